"""The test suite, a package: helper modules are imported relatively (``from .. import wire``)."""
