"""The case file (案卷, 一案一卷, "有卷可查"): the mediation papers of a case made from
templates, numbered in the town's style, printed, signed and scanned back; the archive
entry a closed case gets; and the whole file as one PDF.

The parts, in the order they build on each other:

    numbering   one number per year and kind (文号, 卷号), from a counter row
    archive     a closed case filed with its number and retention (保管期限); the
                workflow's close calls it, so it builds on the models alone
    documents   kinds, their fields and signature lines; filling from the case; making,
                editing; the agreement's terms; who may do it
    scans       the signed paper scanned back (photo or PDF), checked and stored
    pdf         the whole case file as one PDF (fpdf2, a Chinese font from the machine)
"""
