"""xapi_emulator: moto in server mode, patched to follow the AWS rules the
cross-account-api operator depends on (waits, deletion order, uniqueness,
quotas, faults).

The operator only ever sees a standard AWS endpoint (AWS_ENDPOINT_URL); all
emulator-specific knobs live under ``/_xapi/`` on the same port.
"""

__all__ = ["apply_patches"]


def apply_patches() -> None:
    """Install every behaviour patch into moto. Idempotent."""
    from . import apigateway, ec2, elbv2, sts

    apigateway.install()
    ec2.install()
    elbv2.install()
    sts.install()
