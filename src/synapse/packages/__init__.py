"""Engineering packages: the Excel workbook and the PDF of a project's assets, as a job."""
