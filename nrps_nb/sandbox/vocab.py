"""LTI / NRPS / OAuth vocabulary used by the sandbox platform (written out, not imported)."""

from __future__ import annotations

from typing import Final

LIS: Final = "http://purl.imsglobal.org/vocab/lis/v2"
ROLE_INSTRUCTOR: Final = f"{LIS}/membership#Instructor"
ROLE_LEARNER: Final = f"{LIS}/membership#Learner"
ROLE_TEACHING_ASSISTANT: Final = f"{LIS}/membership/Instructor#TeachingAssistant"
ROLE_TEST_USER: Final = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"
CONTEXT_TYPE_COURSE_OFFERING: Final = f"{LIS}/course#CourseOffering"

LTI_CLAIM: Final = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

SCOPE_NRPS: Final = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPE_AGS_LINEITEM_READONLY: Final = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
)
SCOPE_AGS_RESULT_READONLY: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
GRANTED_SCOPES: Final = frozenset(
    {SCOPE_NRPS, SCOPE_AGS_LINEITEM_READONLY, SCOPE_AGS_RESULT_READONLY}
)

NRPS_MEDIA_TYPE: Final = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS: Final = ("RS256", "RS384", "RS512")

PLATFORM_NAME: Final = "nrps_nb sandbox"
PRODUCT_FAMILY_CODE: Final = "nrps_nb_sandbox"
