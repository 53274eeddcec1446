"""Reading and reporting: the pure core (no I/O, no asyncio, no SQL).

Studies, priorities and critical findings, the report lifecycle, the annotation log,
turnaround figures and the export formats (FHIR R4, WFDB annotations). The service
(:mod:`teleconsult.services.studies`) drives these with storage and the bus;
docs/reporting.md describes the model and the API.
"""
