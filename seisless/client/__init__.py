"""What a user's command talks to: engine selection (`engine`), the one loop that
follows an execution (`follow`), and the two workflows' commands (`scan`, `run`).

The emulator (`seisless.local`) is one of the engines behind `engine.open_target`,
imported only when the local engine is used; nothing here knows how it works inside.
Import the submodules themselves: this package imports nothing, so the CLI stays quick
to start.
"""
