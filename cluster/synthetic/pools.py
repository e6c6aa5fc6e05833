"""Value pools for the synthetic tasks, each split into training and held-out validation values.

Every fourth value of a pool (positions 3, 7, 11, ...) is held out for validation, so the
validation file asks for argument values never seen in training. Enumerations (units, modes)
are too small to split and are shared.
"""

from __future__ import annotations

from typing import Any

CITIES = [
    "Paris", "Berlin", "Tokyo", "Madrid", "Rome", "Lisbon", "Oslo", "Cairo", "Lima", "Dublin",
    "Vienna", "Prague", "Seoul", "Sydney", "Toronto", "Chicago", "Boston", "Denver", "Austin", "Miami",
    "Athens", "Warsaw", "Zurich", "Helsinki", "Nairobi", "Bogota", "Manila", "Hanoi", "Delhi", "Dubai",
    "Lagos", "Quito", "Porto", "Kyoto", "Osaka", "Geneva", "Munich", "Hamburg", "Seattle", "Phoenix",
]  # fmt: skip
CURRENCIES = [
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY", "SEK",
    "NOK", "MXN", "BRL", "ZAR", "KRW", "SGD", "NZD", "DKK", "PLN", "TRY",
]  # fmt: skip
EVENT_TITLES = [
    "team meeting", "dentist appointment", "yoga class", "project review", "lunch with Sam",
    "budget call", "piano lesson", "book club", "doctor visit", "sprint planning", "car service",
    "parent meeting", "gym session", "design review", "birthday dinner", "tax deadline",
]  # fmt: skip
EMAILS = [
    "anna@example.com", "ben@example.org", "carla@mail.com", "dev@team.io", "eve@example.net",
    "frank@work.com", "gina@home.org", "hugo@lab.edu", "ivy@shop.com", "jack@club.org",
    "kim@studio.io", "leo@office.com", "mia@school.edu", "noah@farm.net", "olga@bank.com",
    "pete@garage.org",
]  # fmt: skip
SUBJECTS = [
    "Quarterly report", "Lunch plans", "Meeting notes", "Invoice 204", "Trip photos", "Weekly update",
    "Contract draft", "Party invite", "Server outage", "Holiday schedule", "Budget review", "Job offer",
]  # fmt: skip
TICKERS = [
    "AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "NFLX", "INTC", "ORCL",
    "IBM", "SAP", "ADBE", "UBER", "SHOP", "SONY",
]  # fmt: skip
PHRASES = [
    "good morning", "where is the station", "thank you very much", "how much does it cost",
    "I am hungry", "see you tomorrow", "the bill please", "happy birthday", "I need a doctor",
    "what time is it", "nice to meet you", "the door is open",
]  # fmt: skip
LANGUAGES = [
    "French", "German", "Spanish", "Italian", "Japanese", "Korean", "Portuguese", "Dutch",
    "Swedish", "Greek", "Polish", "Turkish",
]  # fmt: skip
TIMER_LABELS = ["pasta", "laundry", "tea", "workout", "oven", "nap", "homework", "meditation"]
DISHES = [
    "lasagna", "pad thai", "tomato soup", "banana bread", "chicken curry", "pancakes", "risotto",
    "fish tacos", "apple pie", "falafel", "beef stew", "paella", "ramen", "shakshuka", "gnocchi",
    "chili",
]  # fmt: skip
SONGS = [
    "Blue Horizon", "Midnight Train", "Paper Hearts", "Golden Hour", "Silver Lining", "Night Drive",
    "Ocean Eyes", "Wild River", "Neon Lights", "Quiet Storm", "Summer Rain", "Lost Satellite",
]  # fmt: skip
ARTISTS = [
    "Nora Vale", "The Lanterns", "Kai Rivers", "Moon Atlas", "Ella Stone", "Red Canyon",
    "Jules Park", "Echo Bloom",
]  # fmt: skip
PLAYLISTS = [
    "road trip",
    "focus",
    "morning run",
    "chill evening",
    "party mix",
    "study beats",
    "sleep",
    "cooking",
]
NEWS_TOPICS = [
    "technology", "climate", "football", "elections", "space", "health", "economy", "music",
    "science", "travel", "education", "energy",
]  # fmt: skip
RESTAURANTS = [
    "The Green Fork", "Blue Olive", "Casa Luna", "Golden Dragon", "Little Italy", "Spice Route",
    "The Oak Table", "Sakura House", "Harbor Grill", "Mint Garden", "Red Lantern", "Bella Vista",
]  # fmt: skip
ADDRESSES = [
    "12 Oak Street", "5 Main Road", "88 Pine Avenue", "3 River Lane", "41 Hill Drive", "7 Park Place",
    "19 Lake View", "250 King Street", "9 Elm Court", "66 Bay Road", "14 Mill Lane", "31 Rose Way",
]  # fmt: skip
ITEMS = [
    "coffee beans", "paper towels", "batteries", "olive oil", "dog food", "rice", "shampoo",
    "green tea", "notebooks", "light bulbs", "oat milk", "toothpaste",
]  # fmt: skip
ORDER_IDS = [
    "ORD-48213", "ORD-10577", "ORD-99301", "ORD-23456", "ORD-77120", "ORD-31008", "ORD-56789",
    "ORD-64012", "ORD-88888", "ORD-12090", "ORD-40404", "ORD-71715",
]  # fmt: skip
ACTIVITIES = ["running", "cycling", "swimming", "rowing", "hiking", "yoga", "boxing", "skiing"]
TEAMS = [
    "Lakers", "Celtics", "Warriors", "Bulls", "Yankees", "Dodgers", "Arsenal", "Chelsea",
    "Barcelona", "Juventus", "Ajax", "Porto FC",
]  # fmt: skip
MOVIES = [
    "Star Harbor", "The Last Key", "Iron Meadow", "Cloud City", "Deep Blue Line", "Night Garden",
    "Paper Moon", "Red Desert", "The Quiet Hour", "Glass Tower", "Wind Runner", "Frozen Road",
]  # fmt: skip
TASKS = [
    "buy milk", "call the bank", "renew passport", "water the plants", "pay rent", "book flights",
    "clean the garage", "send invoice", "fix the bike", "return library books", "plan the party",
    "update resume",
]  # fmt: skip
ROOMS = ["kitchen", "bedroom", "living room", "office", "bathroom", "garage", "hallway", "attic"]
ISBNS = [
    "9780140449136", "9780262033848", "9780131103627", "9781492056355", "9780596007126",
    "9780307465351", "9780735211292", "9780062316097",
]  # fmt: skip
WORDS = [
    "serendipity", "ephemeral", "ubiquitous", "resilient", "candid", "meticulous", "lucid", "frugal",
    "eloquent", "pragmatic", "tenacious", "verbose",
]  # fmt: skip
COUNTRIES = [
    "Japan", "Brazil", "Canada", "Kenya", "Norway", "Peru", "Italy", "Egypt", "Chile", "Vietnam",
    "Mexico", "Ireland",
]  # fmt: skip
FLIGHT_NUMBERS = [
    "LH456", "BA117", "AF22", "UA901", "DL48", "KL1003", "IB3170", "QF1", "EK205", "TK77", "SK925", "AA100",
]  # fmt: skip


def _dates() -> list[str]:
    return [f"2026-{month:02d}-{day:02d}" for month in range(1, 13) for day in (3, 9, 14, 21, 27)]


def _times() -> list[str]:
    return [f"{hour:02d}:{minute:02d}" for hour in range(7, 22) for minute in (0, 15, 30, 45)]


def _amounts() -> list[float]:
    return [
        whole + cents for whole in (5, 12, 20, 35, 48, 75, 99, 120, 250, 480) for cents in (0.25, 0.5, 0.75)
    ]


def _temperatures() -> list[float]:
    return [whole + 0.5 for whole in range(16, 28)]


def _lengths() -> list[float]:
    return [whole + frac for whole in (1, 2, 3, 5, 8, 12, 20, 42, 100) for frac in (0.5, 0.25)]


POOLS: dict[str, list[Any]] = {
    "city": CITIES,
    "currency": CURRENCIES,
    "event_title": EVENT_TITLES,
    "email": EMAILS,
    "subject": SUBJECTS,
    "ticker": TICKERS,
    "phrase": PHRASES,
    "language": LANGUAGES,
    "timer_label": TIMER_LABELS,
    "dish": DISHES,
    "song": SONGS,
    "artist": ARTISTS,
    "playlist": PLAYLISTS,
    "news_topic": NEWS_TOPICS,
    "restaurant": RESTAURANTS,
    "address": ADDRESSES,
    "item": ITEMS,
    "order_id": ORDER_IDS,
    "activity": ACTIVITIES,
    "team": TEAMS,
    "movie": MOVIES,
    "task": TASKS,
    "room": ROOMS,
    "isbn": ISBNS,
    "word": WORDS,
    "country": COUNTRIES,
    "flight_number": FLIGHT_NUMBERS,
    "date": _dates(),
    "time": _times(),
    "amount": _amounts(),
    "temperature": _temperatures(),
    "length": _lengths(),
    "small_int": list(range(2, 15)),
    "days": list(range(2, 15)),
    "minutes": [5, 8, 10, 12, 15, 20, 25, 30, 40, 45, 50, 60, 75, 90],
    "count": list(range(2, 12)),
    "big_int": [12, 18, 24, 36, 42, 56, 63, 72, 84, 96, 108, 120, 144, 150, 180, 210],
    "year": list(range(2015, 2027)),
    "stars": [3, 4, 5],
}


def split_pool(values: list[Any], split: str) -> list[Any]:
    """The values of a pool usable in ``split``: every fourth one is held out for ``val``."""
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: expected 'train' or 'val'")
    if len(values) < 4:
        return list(values)
    held_out = split == "val"
    return [v for i, v in enumerate(values) if (i % 4 == 3) == held_out]
