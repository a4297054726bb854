"""Optional entities: what a subscription or an API role lacks never stops a run.

Everything but leads is optional. Subscriptions differ in what they include (custom objects,
program member infrastructure, the newer bulk extracts) and least-privilege API roles leave
permissions out (Read-Only Activity, Read-Only Assets, Read-Only Custom Object). Marketo
documents 603 for a missing permission and nothing for a missing feature (610, 1026, another
code, an HTTP 404 have all been seen), so every such answer is an :class:`errors.Refusal`
(classified in :mod:`tap_marketo_bulk.marketo.error_codes`), and:

- at discovery, a refusal of an entity's listing, describe or :meth:`OptionalStream.probe`
  skips the entity's streams with **one** warning per run naming the entity, Marketo's code
  and message, and what to ask for; every other stream is still offered;
- during a sync, a refusal of its export or listing ends that stream with that warning, no
  bookmark moves past what was emitted, and the run goes on;
- where the user asked for the entity by name, the run stops instead with that line: a setting
  naming it (:attr:`OptionalStream.naming_settings`), or an input catalog selecting a stream
  that this run's discovery skipped.

Which warnings a run says: a discovery (``--discover``) says every refusal; a sync (an input
catalog) builds only the entities its catalog selects, the others having been said by the
discovery that made the catalog (Meltano runs one before every sync). Refusals are kept on the
run's :class:`~tap_marketo_bulk.instance.MarketoInstance` (``refused``), so none is said twice.
"""

from __future__ import annotations

import contextlib
import fnmatch
import typing as t

from singer_sdk import Stream

from tap_marketo_bulk import errors

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance

StreamT = t.TypeVar("StreamT", bound=Stream)

#: What to ask a Marketo admin for, per optional entity (the ``permission`` of its streams).
READ_ONLY_ACTIVITY = "the Read-Only Activity permission for the API user's role"
READ_ONLY_ASSETS = "the Read-Only Assets permission for the API user's role"
READ_ONLY_LEAD = "the Read-Only Lead permission for the API user's role"
PROGRAM_MEMBERS = (
    "the Read-Only Lead permission for the API user's role (and Read-Only Assets, to list the programs), "
    "and program members in the subscription"
)
READ_ONLY_CUSTOM_OBJECT = (
    "the Read-Only Custom Object permission for the API user's role, and custom objects (and their bulk "
    "extract) in the subscription"
)


class OptionalStream(Stream):
    """A stream of an entity Marketo may refuse: what to ask for, and the cheapest proof it is served.

    Mixed in before the stream's base class (``class ProgramsStream(OptionalStream, ...)``), so
    that its sync hooks wrap the base's.
    """

    #: What to ask a Marketo admin for when Marketo refuses this entity, e.g. "the Read-Only
    #: Assets permission for the API user's role".
    permission: t.ClassVar[str]
    #: Settings whose value names this entity: a refusal then stops the run instead of
    #: skipping the entity (``custom_objects: [...]``, ``program_ids``, ...).
    naming_settings: t.ClassVar[tuple[str, ...]] = ()
    marketo: MarketoInstance

    def probe(self) -> None:
        """The cheapest call proving Marketo serves this entity (raises its refusal).

        Streams whose schema comes from a describe need none: the describe proved it. Streams
        with a static schema make one call here (a first page of one item); discovery calls it,
        in a sync only for the streams the catalog selects.
        """

    def _sync_records(
        self, context: t.Mapping | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """The base's record loop; a refusal ends the stream (see :meth:`_refusal_ends_the_stream`)."""
        with self._refusal_ends_the_stream():
            yield from super()._sync_records(context, write_messages=write_messages)

    def _sync_batches(self, batch_config: t.Any, context: t.Mapping | None = None) -> None:
        """The base's BATCH path; a refusal ends the stream (see :meth:`_refusal_ends_the_stream`)."""
        with self._refusal_ends_the_stream():
            super()._sync_batches(batch_config, context)

    @contextlib.contextmanager
    def _refusal_ends_the_stream(self) -> t.Iterator[None]:
        """A refusal during the sync ends this stream with one warning, and the run goes on.

        What was emitted stays emitted; the SDK's progress markers are dropped, so no bookmark
        moves past it (bulk streams' bookmarks are window ends, set after a window's last
        record). A setting naming the entity stops the run instead.
        """
        try:
            yield
        except errors.Refusal as exc:
            self.stream_state.pop("progress_markers", None)
            settings = naming(type(self), self.config)
            if settings:
                msg = stop_message(self.name, exc, type(self).permission, settings=settings)
                raise errors.ConfigError(msg) from None
            say_refused(self.logger, self.marketo, self.name, exc, type(self).permission)


def naming(kind: type[OptionalStream], config: t.Mapping[str, t.Any]) -> list[str]:
    """The settings that name the entity of ``kind`` and are set."""
    return [name for name in kind.naming_settings if config.get(name) is not None and config[name] not in ("", [], {})]


def stop_message(
    entity: str, exc: errors.Refusal, permission: str, *, settings: t.Sequence[str] = (), selected: t.Sequence[str] = ()
) -> str:
    """The one line of a run that stops because an entity asked for by name is refused."""
    if settings:
        names = ", ".join(settings)
        why, fix = f"the setting {names} asks for it", f"remove {names}"
    else:
        names = ", ".join(selected)
        why, fix = f"the catalog selects {names}", f"deselect {names}"
    return (
        f"{entity}: Marketo answered {exc.answer} to {exc.path or 'the call'}, and {why}. "
        f"Ask a Marketo admin for {permission}, or {fix}."
    )


def say_refused(logger: t.Any, marketo: MarketoInstance, entity: str, exc: errors.Refusal, permission: str) -> None:
    """The one warning of a refused entity, said once per run."""
    marketo.refused.setdefault(entity, exc)
    if marketo.once(f"refused {entity}"):
        logger.warning(refused_line([entity], exc, [exc.path], permission))


def refused_line(entities: t.Sequence[str], exc: errors.Refusal, paths: t.Sequence[str | None], permission: str) -> str:
    """The warning of entities Marketo refused with the same answer, for the same permission."""
    names = entities[0] if len(entities) == 1 else f"{', '.join(entities[:-1])} and {entities[-1]}"
    where = paths[0] or "the call"
    others = len(set(paths)) - 1
    if others:
        where = f"{where} and {others} other endpoint{'s' if others > 1 else ''} of theirs"
    return (
        f"{names} not exported: Marketo answered {exc.answer} to {where}. Ask a Marketo admin for {permission}; "
        "every other stream is exported."
    )


class OptionalEntities:
    """Builds the streams of each optional entity at discovery (``Tap.discover_streams``)."""

    def __init__(self, tap: Tap, marketo: MarketoInstance) -> None:
        self.tap = tap
        self.marketo = marketo
        #: Stream name -> selected, from the input catalog of a sync; None at discovery.
        self.selection: dict[str, bool] | None = None
        #: Entities refused so far, with the answer and what to ask for, said by :meth:`say`.
        self.pending: list[tuple[str, errors.Refusal, str]] = []
        catalog = tap.input_catalog
        if catalog is not None:
            self.selection = {
                entry.tap_stream_id: bool(entry.metadata.resolve_selection().get((), True))  # as Stream.selected
                for entry in catalog.streams
            }

    def selects(self, names: t.Iterable[str]) -> list[str]:
        """The input catalog's selected streams matching these names (fnmatch patterns)."""
        if self.selection is None:
            return []
        patterns = list(names)
        return sorted(
            name
            for name, selected in self.selection.items()
            if selected and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
        )

    def streams(
        self,
        kind: type[OptionalStream],
        entity: str,
        names: t.Iterable[str],
        build: t.Callable[[], t.Iterable[StreamT]],
    ) -> list[StreamT]:
        """The streams ``build`` makes for ``entity``, each probed; [] when Marketo refuses it.

        ``names`` are the entity's stream names (fnmatch patterns, for streams not built yet): a
        sync whose catalog selects none of them builds nothing (its describes cost calls); one
        that selects one of them stops on a refusal, as does a setting naming the entity.
        """
        names = tuple(names)
        if self.selection is not None and not self.selects(names):
            return []  # a sync that selects none of them: nothing to build, nothing to ask Marketo
        try:
            streams = list(build())
            for stream in streams:
                if self.selection is None or self.selection.get(stream.name):
                    t.cast("OptionalStream", stream).probe()
        except errors.Refusal as exc:
            self.refused(kind, entity, names, exc)
            return []
        return streams

    def each(self, *kinds: type[OptionalStream]) -> list[Stream]:
        """One stream of each class, each its own entity named as the stream (``kind.name``),
        built as ``kind(tap, marketo)``: the REST streams whose schema is static."""
        return [
            stream
            for kind in kinds
            for stream in self.streams(kind, kind.name, [kind.name], lambda kind=kind: [kind(self.tap, self.marketo)])
        ]

    def refused(self, kind: type[OptionalStream], entity: str, names: tuple[str, ...], exc: errors.Refusal) -> None:
        """Skip the entity (said by :meth:`say`), or stop where it was asked for by name (a
        sync only builds what its catalog selects, so there a refusal always stops)."""
        settings, selected = naming(kind, self.tap.config), self.selects(names)
        if settings or selected:
            msg = stop_message(entity, exc, kind.permission, settings=settings, selected=selected)
            raise errors.ConfigError(msg) from None
        self.marketo.refused.setdefault(entity, exc)
        self.pending.append((entity, exc, kind.permission))

    def say(self) -> None:
        """One warning per answer and permission, naming every entity refused with it: a role
        without Read-Only Assets is one line for the dozen asset streams, not a dozen lines."""
        groups: dict[tuple[str, str], list[tuple[str, errors.Refusal]]] = {}
        for entity, exc, permission in self.pending:
            if self.marketo.once(f"refused {entity}"):
                groups.setdefault((exc.answer, permission), []).append((entity, exc))
        self.pending.clear()
        for (_answer, permission), refused in groups.items():
            entities = [entity for entity, _exc in refused]
            paths = list(dict.fromkeys(exc.path for _entity, exc in refused))
            self.tap.logger.warning(refused_line(entities, refused[0][1], paths, permission))
