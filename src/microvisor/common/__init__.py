"""What every side agrees on: system-call table, status codes, formats."""
