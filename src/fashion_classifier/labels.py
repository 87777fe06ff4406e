"""The ten product categories, in the model's output order."""

CATEGORIES: tuple[str, ...] = (
    "Tshirts",
    "Shirts",
    "Casual Shoes",
    "Watches",
    "Sports Shoes",
    "Kurtas",
    "Tops",
    "Handbags",
    "Heels",
    "Sunglasses",
)
