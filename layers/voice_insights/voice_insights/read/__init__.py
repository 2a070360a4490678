"""The read API: summaries by conference, call, account, day and issue."""
