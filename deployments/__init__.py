"""Scheduled deployments of the engines' flows."""
