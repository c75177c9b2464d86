"""One module per API resource: each describes its endpoints; the requester does the work."""

from .credentials import CredentialsResource
from .destination_uris import DestinationUris
from .phone_numbers import PhoneNumbers
from .settings import Settings
from .trunk_maps import TrunkMaps
from .trunks import Trunks
from .whitelisted_ips import WhitelistedIps

__all__ = [
    "CredentialsResource",
    "DestinationUris",
    "PhoneNumbers",
    "Settings",
    "TrunkMaps",
    "Trunks",
    "WhitelistedIps",
]
