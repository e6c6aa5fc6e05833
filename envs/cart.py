"""``"cart"``: a shopping cart over a fixed catalog (list_products, add_item, remove_item, view_cart, checkout).

State: the catalog (item -> price), the cart (item -> quantity) and the orders placed. Prices are
whole cents inside, shown as ``"12.50"``, so totals are exact.
"""

from __future__ import annotations

from typing import Any

from envs.files import _doc, _string
from envs.registry import register
from envs.stateful import Backend, StatefulEnv


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _quantity(value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"quantity must be a whole number of at least 1, got {value!r}")
    return value


class Cart(Backend):
    DOCS = (
        _doc("list_products", "The products on sale and their prices.", {}, []),
        _doc(
            "add_item",
            "Put a product into the cart.",
            {
                "item": _string("Product name, as list_products gives it."),
                "quantity": {"type": "integer", "description": "How many.", "default": 1},
            },
            ["item"],
        ),
        _doc(
            "remove_item",
            "Take a product out of the cart: some of it, or all of it when no quantity is given.",
            {
                "item": _string("Product name."),
                "quantity": {"type": "integer", "description": "How many to take out.", "default": None},
            },
            ["item"],
        ),
        _doc("view_cart", "The products in the cart, their quantities and the total.", {}, []),
        _doc(
            "checkout",
            "Buy what is in the cart and ship it to an address; the cart is emptied.",
            {"address": _string("The shipping address.")},
            ["address"],
        ),
    )

    def _load(self, config: dict[str, Any]) -> None:
        self.catalog: dict[str, int] = dict(config.get("catalog", {}))
        self.cart: dict[str, int] = dict(config.get("cart", {}))
        self.orders: list[dict[str, Any]] = list(config.get("orders", []))

    def _state(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "cart": self.cart, "orders": self.orders}

    def _total(self) -> int:
        return sum(self.catalog[item] * count for item, count in self.cart.items())

    def list_products(self) -> dict[str, str]:
        return {item: money(price) for item, price in sorted(self.catalog.items())}

    def add_item(self, item: str, quantity: int = 1) -> dict[str, Any]:
        if not isinstance(item, str) or item not in self.catalog:
            raise ValueError(f"no product {item!r} on sale")
        self.cart[item] = self.cart.get(item, 0) + _quantity(quantity)
        return self.view_cart()

    def remove_item(self, item: str, quantity: int | None = None) -> dict[str, Any]:
        if not isinstance(item, str) or item not in self.cart:
            raise ValueError(f"{item!r} is not in the cart")
        if quantity is None:
            del self.cart[item]
        else:
            count = _quantity(quantity)
            if count > self.cart[item]:
                raise ValueError(f"the cart holds only {self.cart[item]} of {item!r}")
            self.cart[item] -= count
            if not self.cart[item]:
                del self.cart[item]
        return self.view_cart()

    def view_cart(self) -> dict[str, Any]:
        return {"items": dict(sorted(self.cart.items())), "total": money(self._total())}

    def checkout(self, address: str) -> dict[str, Any]:
        if not isinstance(address, str) or not address.strip():
            raise ValueError("a shipping address is required")
        if not self.cart:
            raise ValueError("the cart is empty")
        order = {
            "order_id": len(self.orders) + 1,
            "items": dict(sorted(self.cart.items())),
            "total": money(self._total()),
            "address": address,
        }
        self.orders.append(order)
        self.cart = {}
        return order


@register("cart")
class CartEnv(StatefulEnv):
    """The ``Cart`` backend as an environment."""

    BACKEND = Cart
    CLASS_NAME = "Cart"
