"""Runs and their files: settings (`config`, `profiles`), training with exact resume
(`training`), the one store of every file format (`store`) and run locks, probing and
diagnosing run directories, and the orchestration of many runs (`study`, `sweep`,
`provenance`, the command line `cli`). Imports ``core`` and ``stats``."""
