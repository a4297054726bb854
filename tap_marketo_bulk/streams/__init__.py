"""The Singer streams: what each Marketo entity's export requests or REST pages and schema are.

:mod:`.base` is the bulk stream every bulk entity shares (windows, export requests, typed rows,
checkpoints), with its fast record path in :mod:`.record_path`; one module per entity says only
what is particular to it. :mod:`.reference` holds the REST streams. Every entity but leads is optional
(:mod:`.optional`): Marketo refusing it skips it with one warning. Streams use every wing
(:mod:`tap_marketo_bulk.exports`, :mod:`tap_marketo_bulk.records`,
:mod:`tap_marketo_bulk.marketo`); no wing imports them, and only :mod:`tap_marketo_bulk.tap`
knows them all.
"""
