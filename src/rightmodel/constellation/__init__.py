"""The constellation: which models and tasks a gateway serves (config.py), their list prices
(prices.py), what a request costs (costs.py) and the process settings beside it (settings.py).
Pure domain: nothing here knows HTTP or the gateway."""
