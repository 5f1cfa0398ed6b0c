"""Compiler: a ``Flow`` to a ``CompiledFlow``, purely (no I/O, no clock, no network).

``resolve`` (every name checked and placed), ``build`` (the compiled values), ``lint``
(static warnings), ``graph`` (Mermaid and DOT diagrams).
"""
