"""The cloud service: the v1 REST API, its store, and (later) the link workers that talk to devices."""
