"""A tiny shop with two app versions: v1 (shop.models_v1) is running in production, v2
(shop.models_v2) renames users.email, widens orders.amount and adds users.status."""
