"""The only code that calls AWS: clients, the summaries' writes, the rejected events, the alert ledger and topics."""
