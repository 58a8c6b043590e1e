"""Payment links: a URL template per tenant, filled with the account and the amount."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import quote


def payment_link(
    tenant: str,
    account_ref: str,
    amount: Decimal | str | None,
    *,
    templates: Mapping[str, str],
) -> str | None:
    """The tenant's link with `{account_ref}` and `{amount}` filled in, URL-encoded, or
    None when the tenant has no template. A missing amount fills `{amount}` with nothing.
    Only those two placeholders are replaced; any other text is left as written."""
    template = templates.get(tenant)
    if not template:
        return None
    value = "" if amount is None else str(amount)
    return template.replace("{account_ref}", quote(account_ref, safe="")).replace(
        "{amount}", quote(value, safe="")
    )
