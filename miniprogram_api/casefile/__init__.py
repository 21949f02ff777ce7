"""/cases/{code}/documents: a case's mediation papers on the phone; /case-file.pdf."""
