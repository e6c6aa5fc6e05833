"""Value pools for the synthetic tasks, each split into training and held-out validation values.

Pools are large (lists, or combinations of parts and number ranges), so a small model cannot
memorise the training values and has to copy them from the request, which is what transfers to
new values. A value is held out for validation when the CRC-32 of its text is 3 modulo 4, so the
validation file asks for argument values that never occur in training. Shared pools (a handful
of star ratings) are not split.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CITIES = [
    "Paris", "Berlin", "Tokyo", "Madrid", "Rome", "Lisbon", "Oslo", "Cairo", "Lima", "Dublin",
    "Vienna", "Prague", "Seoul", "Sydney", "Toronto", "Chicago", "Boston", "Denver", "Austin", "Miami",
    "Athens", "Warsaw", "Zurich", "Helsinki", "Nairobi", "Bogota", "Manila", "Hanoi", "Delhi", "Dubai",
    "Lagos", "Quito", "Porto", "Kyoto", "Osaka", "Geneva", "Munich", "Hamburg", "Seattle", "Phoenix",
    "Dallas", "Houston", "Atlanta", "Portland", "Detroit", "Montreal", "Vancouver", "Calgary", "Havana",
    "Santiago", "Caracas", "Montevideo", "Accra", "Dakar", "Tunis", "Casablanca", "Istanbul", "Ankara",
    "Beirut", "Amman", "Doha", "Riyadh", "Tehran", "Karachi", "Lahore", "Mumbai", "Chennai", "Kolkata",
    "Dhaka", "Bangkok", "Jakarta", "Singapore", "Taipei", "Shanghai", "Beijing", "Busan", "Sapporo",
    "Perth", "Auckland", "Brisbane", "Krakow", "Budapest", "Bucharest", "Sofia", "Belgrade", "Zagreb",
    "Riga", "Vilnius", "Tallinn", "Stockholm", "Copenhagen", "Bergen", "Glasgow", "Leeds", "Bristol",
    "Lyon", "Marseille", "Nice", "Seville", "Valencia", "Bilbao", "Milan", "Naples", "Turin", "Florence",
]  # fmt: skip
FIRST_NAMES = [
    "anna", "ben", "carla", "dev", "eve", "frank", "gina", "hugo", "ivy", "jack", "kim", "leo", "mia",
    "noah", "olga", "pete", "quinn", "rosa", "sam", "tara", "uma", "victor", "wendy", "xavi", "yara",
    "zoe", "adam", "bella", "chris", "dina", "eric", "fiona", "greg", "hana", "ian", "julia", "karl",
    "lena", "marco", "nina", "oscar", "paula", "raj", "sara", "tom", "vera", "will", "lucas", "emma",
]  # fmt: skip
LAST_NAMES = [
    "Stone", "Rivers", "Park", "Vale", "Bloom", "Hart", "Reyes", "Novak", "Silva", "Kato", "Moreau",
    "Fischer", "Costa", "Olsen", "Dubois", "Khan", "Ito", "Lund", "Marsh", "Quill", "Frost", "Ward",
]  # fmt: skip
DOMAINS = ["example.com", "mail.com", "team.io", "work.org", "home.net", "lab.edu", "shop.com", "club.org"]
CURRENCIES = [
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY", "SEK", "NOK", "MXN", "BRL", "ZAR",
    "KRW", "SGD", "NZD", "DKK", "PLN", "TRY", "HKD", "THB", "IDR", "HUF", "CZK", "ILS", "CLP", "PHP",
    "AED", "COP", "SAR", "MYR", "RON", "ARS", "EGP", "VND", "NGN", "KES", "PEN", "ISK",
]  # fmt: skip
ADJECTIVES = [
    "blue", "golden", "silver", "quiet", "wild", "lost", "red", "green", "bright", "hidden", "frozen",
    "little", "northern", "crystal", "velvet", "electric", "paper", "iron", "summer", "winter", "lucky",
    "sunny", "misty", "secret", "royal", "urban", "ancient", "cosmic", "rusty", "gentle",
]  # fmt: skip
NOUNS = [
    "horizon", "train", "river", "garden", "tower", "harbor", "forest", "lantern", "meadow", "island",
    "mountain", "desert", "canyon", "valley", "bridge", "castle", "comet", "ocean", "orchard", "falcon",
    "fox", "tiger", "whale", "moon", "storm", "road", "window", "mirror", "engine", "feather",
]  # fmt: skip
EVENT_KINDS = [
    "meeting", "review", "call", "lunch", "dinner", "workshop", "interview", "class", "session",
    "check-in", "demo", "retro", "briefing", "party", "visit", "lesson",
]  # fmt: skip
EVENT_TOPICS = [
    "budget", "design", "project", "team", "sales", "hiring", "product", "quarterly", "yoga", "piano",
    "dentist", "doctor", "marketing", "security", "launch", "training", "board", "client", "family",
]  # fmt: skip
SUBJECT_TOPICS = [
    "report", "invoice", "update", "plans", "notes", "draft", "photos", "schedule", "offer", "proposal",
    "agenda", "summary", "contract", "feedback", "receipt", "tickets",
]  # fmt: skip
LANGUAGES = [
    "French", "German", "Spanish", "Italian", "Japanese", "Korean", "Portuguese", "Dutch", "Swedish",
    "Greek", "Polish", "Turkish", "Arabic", "Hindi", "Russian", "Chinese", "Danish", "Finnish",
    "Norwegian", "Czech", "Hungarian", "Romanian", "Thai", "Vietnamese", "Indonesian", "Hebrew",
    "Ukrainian", "Catalan", "Irish", "Swahili",
]  # fmt: skip
PHRASE_STARTS = [
    "where is",
    "I need",
    "I like",
    "please bring",
    "how much is",
    "I lost",
    "we want",
    "do you have",
]
PHRASE_ENDS = [
    "the station", "a doctor", "the bill", "my keys", "a taxi", "the museum", "fresh bread", "a map",
    "the hotel", "some water", "a ticket", "the beach", "my bag", "the menu", "a room", "the bus",
]  # fmt: skip
FOODS = [
    "noodle soup", "curry", "pancakes", "risotto", "tacos", "pie", "falafel", "stew", "paella", "ramen",
    "gnocchi", "chili", "lasagna", "salad", "burger", "dumplings", "omelette", "pizza", "bread", "pasta",
]  # fmt: skip
FOOD_STYLES = [
    "spicy", "vegan", "chicken", "beef", "tomato", "mushroom", "lemon", "garlic", "cheese", "apple",
    "banana", "pumpkin", "spinach", "coconut", "shrimp", "ginger", "honey", "pesto",
]  # fmt: skip
PRODUCTS = [
    "coffee beans", "paper towels", "batteries", "olive oil", "dog food", "rice", "shampoo", "tea",
    "notebooks", "light bulbs", "oat milk", "toothpaste", "socks", "candles", "soap", "pens", "cables",
    "tissues", "cereal", "honey",
]  # fmt: skip
PRODUCT_KINDS = ["organic", "large", "small", "green", "premium", "spare", "cheap", "fresh", "extra", "black"]
STREETS = [
    "Oak", "Main", "Pine", "River", "Hill", "Park", "Lake", "King", "Elm", "Bay", "Mill", "Rose", "Cedar",
    "Maple", "Church", "Station", "Bridge", "Market", "Castle", "Garden",
]  # fmt: skip
STREET_KINDS = ["Street", "Road", "Avenue", "Lane", "Drive", "Place", "Court", "Way"]
ACTIVITIES = [
    "running", "cycling", "swimming", "rowing", "hiking", "yoga", "boxing", "skiing", "climbing",
    "dancing", "walking", "skating", "tennis", "pilates", "surfing", "karate",
]  # fmt: skip
MASCOTS = ["Hawks", "Lions", "Tigers", "Bears", "Wolves", "Eagles", "Sharks", "Comets", "Rangers", "Pirates"]
TASK_VERBS = [
    "buy",
    "call",
    "renew",
    "water",
    "pay",
    "book",
    "clean",
    "send",
    "fix",
    "return",
    "plan",
    "update",
]
TASK_OBJECTS = [
    "the plants", "the bank", "my passport", "the rent", "the garage", "the invoice", "the bike",
    "the library books", "the party", "my resume", "the car", "the dentist", "the tickets", "mom",
]  # fmt: skip
ROOMS = [
    "kitchen", "bedroom", "living room", "office", "bathroom", "garage", "hallway", "attic", "basement",
    "dining room", "nursery", "porch", "studio", "guest room", "laundry room", "balcony",
]  # fmt: skip
WORDS = [
    "serendipity", "ephemeral", "ubiquitous", "resilient", "candid", "meticulous", "lucid", "frugal",
    "eloquent", "pragmatic", "tenacious", "verbose", "ambiguous", "benevolent", "cogent", "diligent",
    "enigma", "fervent", "gregarious", "hubris", "idyllic", "jovial", "kinetic", "laconic", "mundane",
    "nostalgia", "obscure", "paradox", "quaint", "rhetoric", "sublime", "trivial", "utopia", "vivid",
    "whimsical", "zealous", "austere", "brevity", "cynical", "dogma",
]  # fmt: skip
COUNTRIES = [
    "Japan", "Brazil", "Canada", "Kenya", "Norway", "Peru", "Italy", "Egypt", "Chile", "Vietnam",
    "Mexico", "Ireland", "India", "Spain", "France", "Ghana", "Morocco", "Turkey", "Greece", "Poland",
    "Sweden", "Finland", "Austria", "Portugal", "Argentina", "Colombia", "Thailand", "Indonesia",
    "Australia", "Iceland", "Jordan", "Nepal", "Cuba", "Jamaica", "Tanzania", "Senegal", "Estonia",
    "Croatia", "Mongolia", "Uruguay",
]  # fmt: skip
NEWS_TOPICS = [
    "technology", "climate", "football", "elections", "space", "health", "economy", "music", "science",
    "travel", "education", "energy", "fashion", "movies", "startups", "tennis", "housing", "farming",
    "robotics", "oceans", "art", "books", "crypto", "weather", "medicine", "transport",
]  # fmt: skip
TIMER_LABELS = [
    "pasta", "laundry", "tea", "workout", "oven", "nap", "homework", "meditation", "eggs", "rice",
    "parking", "pizza", "bread", "stretching", "reading", "call",
]  # fmt: skip
AIRLINES = ["LH", "BA", "AF", "UA", "DL", "KL", "IB", "QF", "EK", "TK", "SK", "AA", "LX", "OS", "AY", "NH"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Pool:
    """Draws candidate values; ``shared`` pools are used by both splits unchanged."""

    candidate: Callable[[random.Random], Any]
    shared: bool = False

    def draw(self, rng: random.Random, split: str) -> Any:
        """A value of ``split``'s side of the pool ("train" or "val")."""
        if split not in ("train", "val"):
            raise ValueError(f"split={split!r}: expected 'train' or 'val'")
        for _ in range(1000):
            value = self.candidate(rng)
            if self.shared or is_held_out(value) == (split == "val"):
                return value
        raise RuntimeError(f"pool has no {split} values")


def is_held_out(value: Any) -> bool:
    """Whether ``value`` belongs to validation: CRC-32 of its text is 3 modulo 4 (a quarter)."""
    return zlib.crc32(str(value).encode()) % 4 == 3


def _one_of(values: list[Any]) -> Pool:
    return Pool(lambda rng: rng.choice(values))


def _joined(*parts: list[str], sep: str = " ") -> Pool:
    return Pool(lambda rng: sep.join(rng.choice(part) for part in parts))


def _ints(low: int, high: int) -> Pool:
    return Pool(lambda rng: rng.randint(low, high))


def _decimals(low: int, high: int, fractions: tuple[float, ...] = (0.25, 0.5, 0.75)) -> Pool:
    return Pool(lambda rng: rng.randint(low, high) + rng.choice(fractions))


def _email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}@{rng.choice(DOMAINS)}"


def _date(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(6, 22):02d}:{rng.choice(range(0, 60, 5)):02d}"


def _event_title(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{rng.choice(EVENT_KINDS)} with {rng.choice(FIRST_NAMES).capitalize()}"
    return f"{rng.choice(EVENT_TOPICS)} {rng.choice(EVENT_KINDS)}"


def _phrase(rng: random.Random) -> str:
    return f"{rng.choice(PHRASE_STARTS)} {rng.choice(PHRASE_ENDS)}"


def _title(rng: random.Random) -> str:
    title = f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS).capitalize()}"
    return f"The {title}" if rng.random() < 0.3 else title


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 299)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"


def _ticker(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.choice((3, 4))))


POOLS: dict[str, Pool] = {
    "city": _one_of(CITIES),
    "currency": _one_of(CURRENCIES),
    "event_title": Pool(_event_title),
    "email": Pool(_email),
    "subject": Pool(lambda rng: f"{rng.choice(EVENT_TOPICS).capitalize()} {rng.choice(SUBJECT_TOPICS)}"),
    "ticker": Pool(_ticker),
    "phrase": Pool(_phrase),
    "language": _one_of(LANGUAGES),
    "timer_label": _one_of(TIMER_LABELS),
    "dish": _joined(FOOD_STYLES, FOODS),
    "song": Pool(_title),
    "artist": Pool(lambda rng: f"{rng.choice(FIRST_NAMES).capitalize()} {rng.choice(LAST_NAMES)}"),
    "playlist": _joined(ADJECTIVES, NOUNS),
    "news_topic": _one_of(NEWS_TOPICS),
    "restaurant": Pool(_title),
    "address": Pool(_address),
    "item": _joined(PRODUCT_KINDS, PRODUCTS),
    "order_id": Pool(lambda rng: f"ORD-{rng.randint(10000, 99999)}"),
    "activity": _one_of(ACTIVITIES),
    "team": Pool(lambda rng: f"{rng.choice(CITIES)} {rng.choice(MASCOTS)}"),
    "movie": Pool(_title),
    "task": _joined(TASK_VERBS, TASK_OBJECTS),
    "room": _one_of(ROOMS),
    "isbn": Pool(lambda rng: "978" + "".join(str(rng.randint(0, 9)) for _ in range(10))),
    "word": _one_of(WORDS),
    "country": _one_of(COUNTRIES),
    "flight_number": Pool(lambda rng: f"{rng.choice(AIRLINES)}{rng.randint(1, 1999)}"),
    "date": Pool(_date),
    "time": Pool(_time),
    "amount": _decimals(2, 999),
    "temperature": _decimals(15, 28, (0.5,)),
    "length": _decimals(1, 500, (0.25, 0.5, 0.75)),
    "small_int": _ints(2, 20),
    "days": _ints(2, 30),
    "minutes": _ints(3, 120),
    "count": _ints(2, 12),
    "big_int": _ints(10, 999),
    "year": _ints(2000, 2030),
    "stars": Pool(lambda rng: rng.randint(3, 5), shared=True),
}
