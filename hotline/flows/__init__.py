"""Pure conversation logic: (state, event, context) -> (new state, [effects]). No I/O here."""
