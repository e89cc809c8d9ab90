"""Statistics of studies: typed summaries of run directories (`results`), learned-rate
tables (`rates`), the between-model endpoints (`endpoints`), the report's published
numbers (`published`). Imports ``runs``, ``core`` and ``stats``; never writes a file."""
