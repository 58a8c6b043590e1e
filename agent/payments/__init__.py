"""Payments: the processor's signed webhook, promise matching, and payment links."""
