"""Campaign pages and the sending ledger arrive with the campaign authoring and sending issues."""
