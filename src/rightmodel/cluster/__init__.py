"""Scale-out: state that several gateway processes (one machine or many) must share.

`limits_store` keeps rate limits and budget reservations in SQL so N processes admit requests as
one would. No HTTP here (the gateway imports this package, never the reverse).
"""
