"""From an export file to Singer messages: rows read, values typed, RECORD lines or BATCH files.

:mod:`.types` maps Marketo's ``dataType`` to JSON Schema and converters, :mod:`.reader`
reads CSV/TSV/SSV rows with the per-row code :mod:`.rowcode` generates per header, and
:mod:`.output` / :mod:`.batches` write RECORD lines / BATCH files, always before STATE. This
wing knows files and Singer, not HTTP: it imports only the shared top-level modules, never
:mod:`tap_marketo_bulk.marketo`, :mod:`tap_marketo_bulk.exports` or the streams.
"""
