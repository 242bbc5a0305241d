"""This service's addition: the factory's cards, challenges, certifications, results and refusals."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ...common.factory_protocol import Provisioning, sign_provisioning
from ..clock import iso
from ..errors import InvalidRequest
from ..factory_certification import certify
from ..models import FactoryCard, FactoryCertifiedChip, FactoryRejection, FactoryResult
from ..paging import PageParams
from ..registration import parse_chip_uid
from ..store import factory
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
CARDS_TAG, CHALLENGES_TAG, CERTIFICATES_TAG = ("MicrovisorV1FactoryCard", "MicrovisorV1FactoryChallenge",
                                               "MicrovisorV1FactoryCertificate")
RESULTS_TAG, REJECTIONS_TAG = "MicrovisorV1FactoryResult", "MicrovisorV1FactoryRejection"
CardPath = Annotated[params.FactoryCardSid, Path(alias="Sid", description="The card SID (FC…).")]
StationDescription = "The station's name (unique-name rules)."
StationForm = Annotated[params.UniqueName | None, Form(alias="Station", description=StationDescription)]
StationQuery = Annotated[params.UniqueName | None, Query(alias="Station", description="Only this station's.")]


async def no_blank_fields(request: Request) -> None:
    """FastAPI reads an empty optional form field as absent; here one sent empty is refused."""
    form = await request.form()
    blank = sorted(name for name in ("Station", "Reason") if form.get(name) == "")
    if blank:
        raise InvalidRequest(f"{blank[0]} is empty: give a value or leave the field out.")


REFUSED = {403: {"model": schemas.Error,
                 "description": "The card may not certify chips here: not this platform's, unknown, another "
                                "account's, revoked, or without licences left"}}


@router.get("/v1/Factory/Cards", operation_id="ListFactoryCard", tags=[CARDS_TAG],
            response_model=schemas.ListFactoryCardResponse)
def list_cards(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """The SFI cards the platform operator issued to the Account, and their licences."""
    with service.database.transaction() as session:
        found = paging.fetch(session, factory.cards_statement(caller.account_id), FactoryCard.id, page)
        items = [resources.factory_card(base_url(request), caller.account_sid, row) for row in found.rows]
    return paging.envelope(request, "cards", items, found, page)


@router.get("/v1/Factory/Cards/{Sid}", operation_id="FetchFactoryCard", tags=[CARDS_TAG],
            response_model=schemas.FactoryCard)
def fetch_card(request: Request, service: ServiceDep, caller: CurrentCaller, sid: CardPath) -> dict:
    """Fetch one of the Account's SFI cards."""
    with service.database.transaction() as session:
        row = factory.find_card(session, caller.account_id, sid)
        return resources.factory_card(base_url(request), caller.account_sid, row)


@router.post("/v1/Factory/Challenges", operation_id="CreateFactoryChallenge", tags=[CHALLENGES_TAG],
             status_code=201, response_model=schemas.FactoryChallenge)
def create_challenge(service: ServiceDep, caller: CurrentCaller) -> dict:
    """A single-use challenge for one attestation of this Account, valid ten minutes: the test program on
    the chip countersigns it with the device's CSR."""
    with service.database.transaction() as session:
        row = factory.create_challenge(session, caller.account_id)
        return {"challenge": row.challenge, "date_expires": iso(row.date_expires)}


@router.post("/v1/Factory/Certificates", operation_id="CreateFactoryCertificate", tags=[CERTIFICATES_TAG],
             status_code=201, response_model=schemas.FactoryCertificate,
             dependencies=[Depends(no_blank_fields)],
             responses={200: {"model": schemas.FactoryCertificate,
                              "description": "Certified already with the same key: the certificate again, "
                                             "no licence used"}, **REFUSED})
def create_certificate(
    request: Request, response: Response, service: ServiceDep, caller: CurrentCaller,
    attestation: Annotated[str, Form(alias="Attestation", description=(
        "The attestation (JSON) the test program made on the chip: its CSR, the card certificate, the SFI "
        "authorization and a challenge of this account, countersigned with the chip key."))],
    station: StationForm = None,
) -> dict:
    """Certify a chip: the card, the authorization, the chip's countersignature, the challenge and the
    CSR are checked, a licence of the card is used and the device is registered to the card's Account
    (201). A refusal (400, 403, 409) is recorded in the Account's rejections."""
    result = certify(service.database, service.platform, caller.account_id, caller.account_sid, attestation,
                     station)
    response.status_code = 201 if result.created else 200
    ca = service.platform.ca_pem().decode()
    provisioning = Provisioning(result.chip.certificate, ca, service.broker_address or "")
    return {**resources.factory_certified_chip(base_url(request), result.chip),
            "certificate": result.chip.certificate, "ca_certificate": ca, "broker": service.broker_address,
            "provisioning": sign_provisioning(service.platform.root_key, result.challenge, provisioning)}


@router.get("/v1/Factory/Certificates", operation_id="ListFactoryCertificate", tags=[CERTIFICATES_TAG],
            response_model=schemas.ListFactoryCertificateResponse)
def list_certificates(
    request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams,
    card_sid: Annotated[params.FactoryCardSid | None, Query(alias="CardSid", description="Only this card's.")]
    = None,
    station: StationQuery = None,
) -> dict:
    """The chips certified for the Account, oldest first, with the card and station of each."""
    statement = factory.certified_statement(caller.account_id, card_sid, station)
    with service.database.transaction() as session:
        found = paging.fetch(session, statement, FactoryCertifiedChip.id, page)
        items = [resources.factory_certified_chip(base_url(request), row) for row in found.rows]
    return paging.envelope(request, "certificates", items, found, page)


@router.get("/v1/Factory/Certificates/{Sid}", operation_id="FetchFactoryCertificate", tags=[CERTIFICATES_TAG],
            response_model=schemas.FactoryCertificate)
def fetch_certificate(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    sid: Annotated[params.CertifiedDeviceSid, Path(alias="Sid", description="The device SID (UV…).")],
) -> dict:
    """A certified chip of the Account, with its certificate."""
    with service.database.transaction() as session:
        row = factory.find_certified(session, caller.account_id, sid)
        found = resources.factory_certified_chip(base_url(request), row)
    return {**found, "certificate": row.certificate, "ca_certificate": service.platform.ca_pem().decode(),
            "broker": service.broker_address}


@router.post("/v1/Factory/Results", operation_id="CreateFactoryResult", tags=[RESULTS_TAG], status_code=201,
             response_model=schemas.FactoryResult, dependencies=[Depends(no_blank_fields)])
def create_result(
    service: ServiceDep, caller: CurrentCaller,
    chip_uid: Annotated[params.ChipUid, Form(alias="ChipUid",
                                             description="The chip's 96-bit unique ID, in hex.")],
    passed: Annotated[Literal["true", "false"], Form(alias="Passed", description="Whether the chip passed.")],
    step: Annotated[params.FactoryStep, Form(alias="Step", description="The step (1 to 10) it passed or "
                                                                       "failed at.")],
    reason: Annotated[params.Reason | None, Form(alias="Reason", description="Why, in one line.")] = None,
    station: StationForm = None,
) -> dict:
    """Record what a station found for one chip."""
    with service.database.transaction() as session:
        row = factory.record_result(session, caller.account_id, parse_chip_uid(chip_uid),
                                    passed == "true", step, reason, station)
        return resources.factory_result(row)


@router.get("/v1/Factory/Results", operation_id="ListFactoryResult", tags=[RESULTS_TAG],
            response_model=schemas.ListFactoryResultResponse)
def list_results(
    request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams,
    chip_uid: Annotated[params.ChipUid | None, Query(alias="ChipUid", description="Only this chip's.")]
    = None,
    station: StationQuery = None,
) -> dict:
    """What the Account's stations reported, oldest first."""
    uid = parse_chip_uid(chip_uid) if chip_uid is not None else None
    with service.database.transaction() as session:
        found = paging.fetch(session, factory.results_statement(caller.account_id, uid, station),
                             FactoryResult.id, page)
        items = [resources.factory_result(row) for row in found.rows]
    return paging.envelope(request, "results", items, found, page)


@router.get("/v1/Factory/Rejections", operation_id="ListFactoryRejection", tags=[REJECTIONS_TAG],
            response_model=schemas.ListFactoryRejectionResponse)
def list_rejections(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """The certifications refused for the Account, oldest first: what was tried, from which station, why."""
    with service.database.transaction() as session:
        found = paging.fetch(session, factory.rejections_statement(caller.account_id), FactoryRejection.id,
                             page)
        items = [resources.factory_rejection(row) for row in found.rows]
    return paging.envelope(request, "rejections", items, found, page)
