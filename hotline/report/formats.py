"""The report's output formats (apart from the report, so that the command's parser loads nothing else)."""

FORMATS = ("md", "csv", "html")
