"""Scale: EventBridge's rule targets without rebuilding a parser for every event.

moto hands each event a rule matches to its target through `EventTemplateParser.parse`
(moto/events/utils.py), which parses eight JSONPath expressions (the default input paths) with
`jsonpath_ng.ext.parse` for every event; jsonpath-ng 1.8 builds its whole LALR parse table
each time it parses. A PutEvents of an end's two events, with the local bus's tap rule, cost
0.3 to 0.5 s of the server's time, which made 1,000 ends take minutes (docs/benchmarks.md,
"Expirer scale"). The expressions are a handful of constants and a parsed expression is only
read (`find`), so the parse is memoized: the same events reach the same targets, in
milliseconds. Nothing AWS does is changed; on AWS, PutEvents takes tens of milliseconds
("Amazon EventBridge quotas": PutEvents' latency is not a quota, this is moto's cost only).
"""

from __future__ import annotations

import functools

# Each distinct expression once; a bound, for expressions a caller could vary (input paths
# of an InputTransformer).
_CACHE_SIZE = 512


def apply() -> None:
    import jsonpath_ng.ext as ext

    if getattr(ext.parse, "cib_memoized", False):
        return
    memoized = functools.lru_cache(maxsize=_CACHE_SIZE)(ext.parse)
    memoized.cib_memoized = True  # type: ignore[attr-defined]
    # moto imports `parse` from the module inside the function, at each call: replacing the
    # module's attribute reaches it.
    ext.parse = memoized
