"""Talking to Marketo: HTTP calls, the access token, call pacing and Marketo's error codes.

:mod:`.client` makes every call (paced by :mod:`.ratelimit`, authorised by :mod:`.auth`,
answers read by :mod:`.error_codes`). This wing knows HTTP and Marketo's envelope, nothing of
export jobs, records or streams: it imports only the shared top-level modules
(:mod:`tap_marketo_bulk.errors`, :mod:`tap_marketo_bulk.interrupts`).
"""
