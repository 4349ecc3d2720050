"""Billing domain: calendar, proration, money/VAT, invoicing, payments, ledger, numbering."""
