"""Authoring: YAML text to a validated ``Flow``, with positions for every diagnostic.

``yaml_source`` (text -> plain data + ``SourceMap``), ``loader`` (files -> ``LoadedFlow``),
``assets`` (the prompt and knowledge files a flow names), ``diagnostics`` (pydantic errors ->
``file:line:col`` diagnostics with a hint).
"""
