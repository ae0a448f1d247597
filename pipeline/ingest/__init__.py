"""Reading the raw exports into canonical records, through the layout profiles.

``read`` (one file as text), ``profiles`` (layouts as data: models, loading, detection),
``values`` (a field's values, once per distinct text), ``mapping`` (a profile applied to
a file's text), ``inputs`` (the raw folder's files, each read and mapped) and ``terms``
(the term a run reports on). The checks that follow are :mod:`pipeline.quality`.
"""
