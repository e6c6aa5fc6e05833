"""Value pools for the synthetic tasks, each split into training and held-out validation values.

Values are word-sized: a city, a first name, a round number, a whole hour. Each is one or two
tokens of the embedded default's tokenizer, so a small model can learn to carry a value from the
request into the call within the default run's budget; a value spelt over many tokens (an ISBN,
an e-mail address, ``300.75``) needs a general copying mechanism that a model trained from
scratch for minutes does not form (issue 20 measured 1 in 209 validation call prompts with only
single-token values under the previous pools, and no right calls).

A value is held out when the CRC-32 of its text is 3 modulo 4: the ``unseen_values`` slice of
validation asks for such values, which never occur in training. Shared pools (a handful of star
ratings) are not split.
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
    "Santiago", "Caracas", "Accra", "Dakar", "Tunis", "Istanbul", "Ankara", "Beirut", "Amman", "Doha",
    "Riyadh", "Mumbai", "Chennai", "Bangkok", "Jakarta", "Singapore", "Taipei", "Shanghai", "Beijing",
    "Perth", "Auckland", "Krakow", "Budapest", "Sofia", "Riga", "Stockholm", "Copenhagen", "Glasgow",
    "Lyon", "Marseille", "Seville", "Valencia", "Milan", "Naples", "Florence",
]  # fmt: skip
NAMES = [
    "Anna", "Ben", "Carla", "Dev", "Eve", "Frank", "Gina", "Hugo", "Ivy", "Jack", "Kim", "Leo", "Mia",
    "Noah", "Olga", "Pete", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wendy", "Yara", "Zoe",
    "Adam", "Bella", "Chris", "Dina", "Eric", "Fiona", "Greg", "Hana", "Ian", "Julia", "Karl", "Lena",
    "Marco", "Nina", "Oscar", "Paula", "Raj", "Sara", "Tom", "Vera", "Will", "Lucas", "Emma",
]  # fmt: skip
CURRENCIES = [
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY", "SEK", "NOK", "MXN", "BRL", "ZAR",
    "KRW", "SGD", "NZD", "DKK", "PLN", "TRY", "HKD", "THB", "HUF", "CZK",
]  # fmt: skip
TICKERS = [
    "AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "NFLX", "INTC", "ORCL", "IBM", "SAP", "SONY",
    "NKE", "KO", "PEP", "DIS", "UBER", "SHOP", "ADBE", "CSCO", "QCOM", "BABA", "PYPL", "SBUX",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "tomorrow", "today"]
EVENTS = [
    "standup", "lunch", "review", "interview", "dentist", "yoga", "meeting", "workshop", "dinner",
    "briefing", "demo", "retro", "party", "lesson", "checkup", "haircut", "training", "seminar", "concert",
    "webinar", "brunch", "tutoring", "rehearsal", "appointment",
]  # fmt: skip
SUBJECTS = [
    "report", "invoice", "update", "plans", "notes", "draft", "photos", "schedule", "offer", "proposal",
    "agenda", "summary", "contract", "feedback", "receipt", "tickets", "budget", "slides", "minutes",
    "results", "roadmap", "timeline",
]  # fmt: skip
LANGUAGES = [
    "French", "German", "Spanish", "Italian", "Japanese", "Korean", "Portuguese", "Dutch", "Swedish",
    "Greek", "Polish", "Turkish", "Arabic", "Hindi", "Russian", "Chinese", "Danish", "Finnish",
    "Norwegian", "Czech", "Thai", "Vietnamese", "Hebrew", "Swahili",
]  # fmt: skip
PHRASES = [
    "hello", "goodbye", "thanks", "water", "bread", "station", "ticket", "doctor", "hotel", "breakfast",
    "coffee", "beach", "museum", "airport", "taxi", "menu", "bill", "friend", "morning", "night",
    "cheese", "market", "street", "library",
]  # fmt: skip
TIMER_LABELS = [
    "pasta", "laundry", "tea", "workout", "oven", "nap", "homework", "meditation", "eggs", "rice",
    "parking", "pizza", "bread", "stretching", "reading", "cookies",
]  # fmt: skip
FOODS = [
    "curry", "pancakes", "risotto", "tacos", "pie", "falafel", "stew", "paella", "ramen", "gnocchi",
    "chili", "lasagna", "salad", "burger", "dumplings", "omelette", "pizza", "pasta", "soup", "sushi",
    "couscous", "goulash",
]  # fmt: skip
TITLES = [
    "Horizon", "Riverside", "Lantern", "Meadow", "Harbor", "Falcon", "Comet", "Orchard", "Voyager",
    "Eclipse", "Nebula", "Aurora", "Mirage", "Tempest", "Echo", "Solstice", "Odyssey", "Paradise",
    "Starlight", "Wildfire", "Moonrise", "Thunder", "Serenade", "Cascade",
]  # fmt: skip
ARTISTS = [
    "Adele", "Drake", "Shakira", "Beyonce", "Coldplay", "Madonna", "Rihanna", "Sting", "Bjork", "Prince",
    "Queen", "Abba", "Muse", "Oasis", "Blur", "Eminem", "Enya", "Moby", "Sade", "Seal",
]  # fmt: skip
PLAYLISTS = [
    "chill", "workout", "focus", "party", "roadtrip", "sleep", "morning", "summer", "winter", "jazz",
    "classics", "favorites", "study", "dinner", "running", "rainy",
]  # fmt: skip
NEWS_TOPICS = [
    "technology", "climate", "football", "elections", "space", "health", "economy", "music", "science",
    "travel", "education", "energy", "fashion", "movies", "startups", "tennis", "housing", "farming",
    "robotics", "art", "books", "weather", "medicine", "transport",
]  # fmt: skip
RESTAURANTS = [
    "Luigi", "Nobu", "Sakura", "Bella", "Olive", "Saffron", "Basil", "Marigold", "Juniper", "Bistro",
    "Trattoria", "Cantina", "Pavilion", "Brasserie", "Tavern", "Osteria", "Noodlebar", "Smokehouse",
]  # fmt: skip
PLACES = [
    "airport", "station", "museum", "harbor", "office", "stadium", "library", "mall", "hospital",
    "university", "zoo", "beach", "downtown", "park", "cathedral", "market", "pier", "campus", "gym",
    "hotel", "theater", "aquarium",
]  # fmt: skip
PRODUCTS = [
    "coffee", "batteries", "rice", "shampoo", "tea", "notebooks", "bulbs", "toothpaste", "socks",
    "candles", "soap", "pens", "cables", "tissues", "cereal", "honey", "apples", "eggs", "milk", "butter",
    "flour", "sugar", "napkins", "sponges",
]  # fmt: skip
ACTIVITIES = [
    "running", "cycling", "swimming", "rowing", "hiking", "yoga", "boxing", "skiing", "climbing",
    "dancing", "walking", "skating", "tennis", "pilates", "surfing", "karate",
]  # fmt: skip
TEAMS = [
    "Hawks", "Lions", "Tigers", "Bears", "Wolves", "Eagles", "Sharks", "Comets", "Rangers", "Pirates",
    "Falcons", "Giants", "Jets", "Kings", "Raptors", "Bulls", "Celtics", "Warriors", "Suns", "Rockets",
]  # fmt: skip
CHORES = [
    "laundry", "groceries", "taxes", "dishes", "homework", "rent", "vacuuming", "gardening", "packing",
    "ironing", "shopping", "cooking", "cleaning", "invoices", "emails", "paperwork",
]  # fmt: skip
ROOMS = [
    "kitchen", "bedroom", "office", "bathroom", "garage", "hallway", "attic", "basement", "nursery",
    "porch", "studio", "balcony", "lounge", "cellar", "pantry", "den",
]  # fmt: skip
WORDS = [
    "serendipity", "ephemeral", "ubiquitous", "resilient", "candid", "meticulous", "lucid", "frugal",
    "eloquent", "pragmatic", "tenacious", "verbose", "ambiguous", "benevolent", "cogent", "diligent",
    "enigma", "fervent", "gregarious", "hubris", "idyllic", "jovial", "kinetic", "laconic", "mundane",
    "nostalgia", "obscure", "paradox", "quaint", "rhetoric", "sublime", "trivial", "utopia", "vivid",
]  # fmt: skip
COUNTRIES = [
    "Japan", "Brazil", "Canada", "Kenya", "Norway", "Peru", "Italy", "Egypt", "Chile", "Vietnam",
    "Mexico", "Ireland", "India", "Spain", "France", "Ghana", "Morocco", "Turkey", "Greece", "Poland",
    "Sweden", "Finland", "Austria", "Portugal", "Argentina", "Colombia", "Thailand", "Indonesia",
    "Australia", "Iceland", "Jordan", "Nepal", "Cuba", "Jamaica", "Tanzania", "Senegal",
]  # fmt: skip
FLIGHTS = [
    "LH12", "BA27", "AF33", "UA48", "DL51", "KL66", "IB72", "QF81", "EK93", "TK15", "SK24", "AA39",
    "LX42", "OS57", "AY68", "NH74", "LH85", "BA96", "AF18", "UA29",
]  # fmt: skip
BOOKS = [
    "Dune", "Emma", "Beloved", "Ulysses", "Rebecca", "Frankenstein", "Dracula", "Matilda", "Hamlet",
    "Lolita", "Persuasion", "Middlemarch", "Siddhartha", "Walden", "Candide", "Heidi", "Ivanhoe",
    "Coraline", "Holes", "Wonder",
]  # fmt: skip
HOURS = [f"{hour:02d}:{minute}" for hour in range(6, 23) for minute in ("00", "30")]
AMOUNTS = [5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 750, 800]
LENGTHS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500]
MINUTES = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 75, 90, 100, 120]
GCD_NUMBERS = [
    12,
    14,
    16,
    18,
    20,
    21,
    24,
    27,
    28,
    30,
    32,
    35,
    36,
    40,
    42,
    45,
    48,
    54,
    56,
    60,
    63,
    64,
    72,
    81,
    84,
    90,
]
ORDER_IDS = [str(n) for n in range(1001, 1041)]
FLOATS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.5, 2.5, 3.5, 4.5, 0.08, 0.35, 0.6, 1.25, 2.75, 9.8]


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


def _ints(low: int, high: int) -> Pool:
    return Pool(lambda rng: rng.randint(low, high))


POOLS: dict[str, Pool] = {
    "city": _one_of(CITIES),
    "currency": _one_of(CURRENCIES),
    "event_title": _one_of(EVENTS),
    "name": _one_of(NAMES),
    "subject": _one_of(SUBJECTS),
    "ticker": _one_of(TICKERS),
    "phrase": _one_of(PHRASES),
    "language": _one_of(LANGUAGES),
    "timer_label": _one_of(TIMER_LABELS),
    "dish": _one_of(FOODS),
    "song": _one_of(TITLES),
    "artist": _one_of(ARTISTS),
    "playlist": _one_of(PLAYLISTS),
    "news_topic": _one_of(NEWS_TOPICS),
    "restaurant": _one_of(RESTAURANTS),
    "place": _one_of(PLACES),
    "item": _one_of(PRODUCTS),
    "order_id": _one_of(ORDER_IDS),
    "activity": _one_of(ACTIVITIES),
    "team": _one_of(TEAMS),
    "movie": _one_of(TITLES),
    "chore": _one_of(CHORES),
    "room": _one_of(ROOMS),
    "book": _one_of(BOOKS),
    "word": _one_of(WORDS),
    "country": _one_of(COUNTRIES),
    "flight_number": _one_of(FLIGHTS),
    "day": _one_of(WEEKDAYS),
    "time": _one_of(HOURS),
    "amount": _one_of(AMOUNTS),
    "temperature": _ints(16, 28),
    "length": _one_of(LENGTHS),
    "small_int": _ints(2, 20),
    "days": _ints(2, 30),
    "minutes": _one_of(MINUTES),
    "count": _ints(2, 12),
    "big_int": _one_of(GCD_NUMBERS),
    "year": _ints(2000, 2030),
    "stars": Pool(lambda rng: rng.randint(3, 5), shared=True),
    # for the generated tools (cluster.synthetic.generated): decimals and lists
    "float": _one_of(FLOATS),
    "int_list": Pool(lambda rng: [rng.choice(AMOUNTS) for _ in range(rng.randint(3, 4))]),
    "city_list": Pool(lambda rng: rng.sample(CITIES, 2)),
}
