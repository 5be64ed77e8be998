"""I/O: the warehouse, the CRM and file connectors, and Slack."""
