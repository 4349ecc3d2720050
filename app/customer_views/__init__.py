"""What a customer sees of their own account: the read models behind the portal pages and
the /api/dashboard endpoints (DESIGN §7, §8).

Every function takes the customer's id and scopes every query by it, so a foreign id finds
nothing (the edges answer 404). Each runs a fixed number of queries whatever the length of
the customer's history, with every list capped or paginated. Dates a customer reads (current
cycle, next billing date) come from the billing calendar for the business date (§5.3), not
from the columns that run ahead.
"""
