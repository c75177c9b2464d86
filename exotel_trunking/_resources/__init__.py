"""One module per API resource: each describes its endpoints; the requester does the work."""

from .credentials import CredentialsResource
from .destination_uris import DestinationUris
from .phone_numbers import PhoneNumbers
from .settings import Settings
from .trunks import Trunks
from .whitelisted_ips import WhitelistedIps

__all__ = [
    "CredentialsResource",
    "DestinationUris",
    "PhoneNumbers",
    "Settings",
    "Trunks",
    "WhitelistedIps",
]
