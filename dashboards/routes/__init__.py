"""HTTP routes of the operator app, one module per resource."""
