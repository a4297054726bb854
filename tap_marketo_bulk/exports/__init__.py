"""The bulk export job lifecycle: create (intent first), enqueue, poll, download, verify.

:mod:`.model` is the vocabulary (request, job, create intent, file); :mod:`.jobs` makes
Marketo's job calls, :mod:`.recovery` finds an interrupted run's jobs so none is created
twice, :mod:`.downloads` fetches files with ``Range`` and checks them, :mod:`.spend` counts
jobs, MB and the budget, and :mod:`.runner` keeps jobs in flight within Marketo's limits and
hands the files back in request order. It calls Marketo through :mod:`tap_marketo_bulk.marketo`
and reads a file's header with :mod:`tap_marketo_bulk.records`; it never imports streams.
"""
