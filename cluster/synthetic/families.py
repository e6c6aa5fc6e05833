"""Tool families of the synthetic tasks: function docs, request templates and value pools.

A template names each argument it states as ``{param}``; a parameter absent from a template is
not stated (an optional one is then omitted, a required one makes a missing-parameter request).
The last template of each list is held out for validation, so validation phrasings are unseen.
A boolean slot is written as the parameter's ``phrase`` and means True.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Param:
    """One typed parameter; its values come from ``pool`` (cluster.synthetic.pools) or ``enum``."""

    name: str
    type: str  # Gorilla type: string, integer, float, boolean, array
    description: str
    pool: str | None = None
    enum: tuple[str, ...] = ()
    required: bool = True
    default: Any = None
    phrase: str = ""
    items: str | None = None  # an array's item type

    def schema(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.items:
            spec["items"] = {"type": self.items}
        if self.enum:
            spec["enum"] = list(self.enum)
        if self.default is not None:
            spec["default"] = self.default
        return spec


@dataclass(frozen=True)
class Function:
    """A tool: its doc, what it is for (``topic``, used in the reference reasoning) and its requests."""

    name: str
    description: str
    params: tuple[Param, ...]
    topic: str
    templates: tuple[str, ...]
    missing: tuple[str, ...]

    def doc(self) -> dict[str, Any]:
        """The BFCL-style function doc shown to the model."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "dict",
                "properties": {p.name: p.schema() for p in self.params},
                "required": [p.name for p in self.params if p.required],
            },
        }

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


@dataclass(frozen=True)
class Family:
    name: str
    functions: tuple[Function, ...]


def slots(template: str) -> list[str]:
    """The parameter names a template states."""
    return SLOT.findall(template)


def _s(name: str, description: str, pool: str, **kw: Any) -> Param:
    return Param(name, "string", description, pool=pool, **kw)


def _i(name: str, description: str, pool: str, **kw: Any) -> Param:
    return Param(name, "integer", description, pool=pool, **kw)


def _f(name: str, description: str, pool: str, **kw: Any) -> Param:
    return Param(name, "float", description, pool=pool, **kw)


def _e(name: str, description: str, values: tuple[str, ...], **kw: Any) -> Param:
    return Param(name, "string", description, enum=values, **kw)


def _b(name: str, description: str, phrase: str) -> Param:
    return Param(name, "boolean", description, required=False, default=False, phrase=phrase)


F = Function
FAMILIES: tuple[Family, ...] = (
    Family("weather", (
        F("get_weather", "Current weather in a city.",
          (_s("city", "City name.", "city"), _e("unit", "Temperature unit.", ("celsius", "fahrenheit"),
                                                required=False, default="celsius")),
          "the current weather",
          ("What's the weather in {city}?", "Tell me the weather in {city} right now.",
           "How is the weather in {city} in {unit}?", "Is it cold in {city} today?",
           "Current weather for {city}, please.", "Give me the weather in {city} in {unit}.",
           "I wonder what the weather is like in {city} at the moment."),
          ("What's the weather like right now?", "Tell me the current weather in {unit}.",
           "Is it raining outside at the moment?")),
        F("get_forecast", "Weather forecast for the next days.",
          (_s("city", "City name.", "city"), _i("days", "Number of days.", "days")),
          "a weather forecast",
          ("Forecast for {city} for the next {days} days.", "What will the weather be in {city} over {days} days?",
           "Give me a {days} day forecast for {city}.", "Show the {days}-day forecast in {city}.",
           "I need the weather outlook for {city}, {days} days ahead."),
          ("What's the forecast for the next {days} days?", "Show me the weather forecast for {city}.",
           "Give me the forecast for the coming days in {city}.")),
    )),
    Family("flights", (
        F("search_flights", "Find flights between two cities on a date.",
          (_s("origin", "Departure city.", "city"), _s("destination", "Arrival city.", "city"),
           _s("date", "Day of travel.", "day"), _b("nonstop", "Only direct flights.", "nonstop")),
          "a flight search",
          ("Find flights from {origin} to {destination} on {date}.",
           "Search {nonstop} flights from {origin} to {destination} on {date}.",
           "I need to fly from {origin} to {destination} on {date}.",
           "Any flights {origin} to {destination} on {date}?",
           "Look up {nonstop} flights on {date} from {origin} to {destination}.",
           "Are there flights leaving {origin} for {destination} on {date}?"),
          ("Find flights from {origin} to {destination}.", "I want to fly to {destination} on {date}.",
           "Search flights leaving {origin} on {date}.")),
        F("get_flight_status", "Status of a flight by number.",
          (_s("flight_number", "Flight number.", "flight_number"),),
          "a flight status",
          ("Is flight {flight_number} on time?", "What's the status of flight {flight_number}?",
           "Check flight {flight_number} for me.", "Has {flight_number} departed yet?",
           "Any delay on flight {flight_number}?"),
          ("Is my flight on time?", "Check the status of my flight.")),
    )),
    Family("currency", (
        F("convert_currency", "Convert an amount between currencies.",
          (_f("amount", "Amount to convert.", "amount"), _s("from_currency", "Source currency code.", "currency"),
           _s("to_currency", "Target currency code.", "currency")),
          "a currency conversion",
          ("Convert {amount} {from_currency} to {to_currency}.", "How much is {amount} {from_currency} in {to_currency}?",
           "Change {amount} {from_currency} into {to_currency}.", "What do {amount} {from_currency} make in {to_currency}?",
           "I have {amount} {from_currency}; what is that in {to_currency}?"),
          ("Convert {amount} {from_currency} for me.", "How much is {amount} in {to_currency}?",
           "Convert my {from_currency} to {to_currency}.")),
        F("get_exchange_rate", "Exchange rate between two currencies.",
          (_s("base", "Base currency code.", "currency"), _s("target", "Quote currency code.", "currency")),
          "an exchange rate",
          ("What's the exchange rate from {base} to {target}?", "Rate of {base} against {target}?",
           "Show the {base} to {target} exchange rate.", "How many {target} for one {base}?",
           "Current {base}/{target} rate, please."),
          ("What's the exchange rate for {base}?", "Show me today's exchange rate.")),
    )),
    Family("calendar", (
        F("create_event", "Add an event to the calendar.",
          (_s("title", "Event title.", "event_title"), _s("date", "Day of the event.", "day"),
           _s("time", "Start time, HH:MM.", "time", required=False)),
          "a new calendar event",
          ("Add {title} to my calendar on {date}.", "Schedule {title} on {date} at {time}.",
           "Put {title} in the calendar for {date}.", "Create an event {title} on {date} at {time}.",
           "Book {title} on {date}.", "Please note {title} for {date} at {time} in my calendar."),
          ("Add {title} to my calendar.", "Schedule an event on {date} at {time}.",
           "Create a calendar event for {title}.")),
        F("list_events", "List calendar events on a date.",
          (_s("date", "Day to list.", "day"),),
          "the calendar events of a day",
          ("What's on my calendar on {date}?", "List my events for {date}.", "Do I have anything on {date}?",
           "Show my schedule for {date}.", "Which meetings do I have on {date}?"),
          ("What's on my calendar?", "List my events.")),
    )),
    Family("math", (
        F("compute_power", "Raise a number to a power.",
          (_i("base", "The base.", "small_int"), _i("exponent", "The exponent.", "small_int")),
          "a power",
          ("What is {base} to the power of {exponent}?", "Compute {base} raised to {exponent}.",
           "Calculate {base}^{exponent}.", "Raise {base} to the {exponent} power.",
           "I need {base} to the power {exponent}."),
          ("What is {base} raised to a power?", "Compute a number to the power of {exponent}.")),
        F("compute_gcd", "Greatest common divisor of two integers.",
          (_i("a", "First integer.", "big_int"), _i("b", "Second integer.", "big_int")),
          "a greatest common divisor",
          ("What is the gcd of {a} and {b}?", "Greatest common divisor of {a} and {b}?",
           "Find the GCD of {a} and {b}.", "Compute gcd({a}, {b}).",
           "Which largest number divides both {a} and {b}?"),
          ("What is the gcd of {a}?", "Find the greatest common divisor of two numbers.")),
    )),
    Family("hotel", (
        F("book_hotel", "Book a hotel room.",
          (_s("city", "City name.", "city"), _i("nights", "Number of nights.", "small_int"),
           _i("guests", "Number of guests.", "count", required=False, default=1)),
          "a hotel booking",
          ("Book a hotel in {city} for {nights} nights.", "Reserve a room in {city}, {nights} nights, {guests} guests.",
           "I need a hotel in {city} for {nights} nights.", "Get me a room in {city} for {nights} nights for {guests} people.",
           "Book {nights} nights in {city}.", "Can you reserve {nights} nights at a hotel in {city}?"),
          ("Book a hotel in {city}.", "Reserve a room for {nights} nights.", "I need a hotel for {guests} guests.")),
        F("find_hotels", "Search hotels in a city.",
          (_s("city", "City name.", "city"), _i("stars", "Minimum stars.", "stars", required=False)),
          "a hotel search",
          ("Find hotels in {city}.", "Show {stars} star hotels in {city}.", "Which hotels are there in {city}?",
           "List hotels in {city} with at least {stars} stars.", "Search for hotels in {city}."),
          ("Find me some hotels.", "Show {stars} star hotels.")),
    )),
    Family("email", (
        F("send_email", "Send an email.",
          (_s("to", "Recipient name.", "name"), _s("subject", "Subject line.", "subject")),
          "to send an email",
          ("Send an email to {to} with subject {subject}.", "Email {to} about {subject}.",
           "Write to {to}, subject: {subject}.", "Mail {to} with the subject {subject}.",
           "Please send {to} a message titled {subject}."),
          ("Send an email to {to}.", "Send an email about {subject}.", "Email my boss, please.")),
        F("search_inbox", "Search emails from a sender.",
          (_s("sender", "Sender name.", "name"),),
          "an inbox search",
          ("Find emails from {sender}.", "Show mails sent by {sender}.", "Search my inbox for {sender}.",
           "Did {sender} write to me?", "Any messages from {sender}?"),
          ("Search my inbox.", "Find that email from last week.")),
    )),
    Family("stocks", (
        F("get_stock_price", "Latest price of a stock.",
          (_s("ticker", "Ticker symbol.", "ticker"),),
          "a stock price",
          ("What's the price of {ticker}?", "How is {ticker} trading?", "Stock price for {ticker}.",
           "Quote {ticker} for me.", "Where is {ticker} trading right now?"),
          ("What's the stock price?", "How is my stock doing today?")),
        F("get_stock_history", "Daily prices of a stock.",
          (_s("ticker", "Ticker symbol.", "ticker"), _i("days", "Number of days.", "days")),
          "a stock price history",
          ("Show {ticker} prices for the last {days} days.", "Price history of {ticker} over {days} days.",
           "How did {ticker} move in the past {days} days?", "Give me {days} days of {ticker} prices.",
           "Chart {ticker} for {days} days."),
          ("Show the price history of {ticker}.", "Give me {days} days of stock prices.")),
    )),
    Family("translation", (
        F("translate_text", "Translate text into a language.",
          (_s("text", "Text to translate.", "phrase"), _s("target_language", "Target language.", "language")),
          "a translation",
          ('Translate "{text}" into {target_language}.', 'How do you say "{text}" in {target_language}?',
           'Say "{text}" in {target_language}.', '"{text}" in {target_language}, please.',
           'What is "{text}" in {target_language}?'),
          ('Translate "{text}" for me.', "Translate this into {target_language}.",
           "Can you translate something?")),
    )),
    Family("timers", (
        F("set_timer", "Start a countdown timer.",
          (_i("minutes", "Length in minutes.", "minutes"), _s("label", "Timer name.", "timer_label", required=False)),
          "a timer",
          ("Set a timer for {minutes} minutes.", "Start a {minutes} minute timer for {label}.",
           "Timer, {minutes} minutes.", "Count down {minutes} minutes for {label}.",
           "Remind me in {minutes} minutes.", "Please time {minutes} minutes for the {label}."),
          ("Set a timer.", "Start a timer for {label}.")),
        F("set_alarm", "Set an alarm clock.",
          (_s("time", "Alarm time, HH:MM.", "time"),),
          "an alarm",
          ("Wake me up at {time}.", "Set an alarm for {time}.", "Alarm at {time}, please.",
           "I need an alarm at {time}.", "Can you ring me at {time}?"),
          ("Set an alarm.", "Wake me up tomorrow.")),
    )),
    Family("recipes", (
        F("find_recipe", "Find a recipe for a dish.",
          (_s("dish", "Dish name.", "dish"), _i("max_minutes", "Longest cooking time.", "minutes", required=False)),
          "a recipe",
          ("Find a recipe for {dish}.", "How do I cook {dish} in under {max_minutes} minutes?",
           "Give me a {dish} recipe.", "Recipe for {dish} that takes at most {max_minutes} minutes.",
           "I want to make {dish}.", "Show me how to prepare {dish}."),
          ("Find me a recipe.", "Something I can cook in {max_minutes} minutes?")),
    )),
    Family("music", (
        F("play_song", "Play a song.",
          (_s("title", "Song title.", "song"), _s("artist", "Artist name.", "artist", required=False)),
          "to play a song",
          ("Play {title}.", "Play {title} by {artist}.", "Put on {title}.", "I want to hear {title} by {artist}.",
           "Start the song {title}.", "Could you play {title} from {artist}?"),
          ("Play a song.", "Play something by {artist}.")),
        F("create_playlist", "Create a new playlist.",
          (_s("name", "Playlist name.", "playlist"),),
          "a new playlist",
          ("Create a playlist called {name}.", "Make a new playlist named {name}.", "New playlist: {name}.",
           "Start a playlist {name}.", "Set up a playlist with the name {name}."),
          ("Create a new playlist.", "Make me a playlist.")),
    )),
    Family("directions", (
        F("get_directions", "Route between two places.",
          (_s("origin", "Start place.", "place"), _s("destination", "End place.", "place"),
           _e("mode", "Travel mode.", ("driving", "walking", "transit"), required=False, default="driving")),
          "directions",
          ("How do I get from the {origin} to the {destination}?",
           "Directions from the {origin} to the {destination} by {mode}.",
           "Route from the {origin} to the {destination}.",
           "Show me the way from the {origin} to the {destination}, {mode}.",
           "Navigate from the {origin} to the {destination}.",
           "What's the {mode} route from the {origin} to the {destination}?"),
          ("How do I get to the {destination}?", "Directions from the {origin}, please.",
           "Show me the way by {mode}.")),
    )),
    Family("news", (
        F("get_news", "Latest news headlines on a topic.",
          (_s("topic", "News topic.", "news_topic"), _i("count", "Number of headlines.", "count", required=False)),
          "news headlines",
          ("Any news about {topic}?", "Show {count} headlines on {topic}.", "What's new in {topic}?",
           "Give me the latest {topic} news.", "Top {count} stories about {topic}.",
           "Catch me up on {topic} news."),
          ("What's in the news?", "Show me {count} headlines.")),
    )),
    Family("restaurants", (
        F("book_table", "Reserve a restaurant table.",
          (_s("restaurant", "Restaurant name.", "restaurant"), _i("people", "Party size.", "count"),
           _s("time", "Time, HH:MM.", "time")),
          "a table reservation",
          ("Book a table at {restaurant} for {people} at {time}.", "Reserve {restaurant}, {people} people, {time}.",
           "Table for {people} at {restaurant} at {time}.", "Get us a table at {restaurant} at {time} for {people}.",
           "Can I book {restaurant} for {people} guests at {time}?"),
          ("Book a table at {restaurant}.", "Reserve a table for {people} at {time}.",
           "Book a table at {restaurant} at {time}.")),
    )),
    Family("rides", (
        F("order_taxi", "Order a taxi.",
          (_s("pickup", "Pickup place.", "place"), _s("dropoff", "Drop-off place.", "place")),
          "a taxi",
          ("Get me a taxi from the {pickup} to the {dropoff}.", "Order a cab from the {pickup} to the {dropoff}.",
           "I need a ride from the {pickup} to the {dropoff}.", "Taxi from the {pickup} to the {dropoff}, please.",
           "Send a car to the {pickup} going to the {dropoff}."),
          ("Get me a taxi.", "Order a cab to the {dropoff}.", "I need a ride from the {pickup}.")),
    )),
    Family("shopping", (
        F("add_to_cart", "Add an item to the shopping cart.",
          (_s("item", "Product name.", "item"), _i("quantity", "How many.", "count")),
          "to add to the cart",
          ("Add {quantity} {item} to my cart.", "Put {quantity} packs of {item} in the cart.",
           "I want {quantity} {item}.", "Order {quantity} units of {item}.",
           "Please add {item}, quantity {quantity}, to the basket."),
          ("Add {item} to my cart.", "Add {quantity} things to the cart.")),
        F("track_order", "Track an order.",
          (_s("order_id", "Order id.", "order_id"),),
          "order tracking",
          ("Where is order {order_id}?", "Track {order_id}.", "Status of my order {order_id}?",
           "Has {order_id} shipped?", "When does order {order_id} arrive?"),
          ("Where is my order?", "Track my package.")),
    )),
    Family("fitness", (
        F("log_workout", "Log a workout.",
          (_s("activity", "Activity name.", "activity"), _i("minutes", "Duration in minutes.", "minutes")),
          "to log a workout",
          ("Log {minutes} minutes of {activity}.", "I did {activity} for {minutes} minutes.",
           "Record {activity}, {minutes} minutes.", "Add a {minutes} minute {activity} workout.",
           "Track my {activity} session of {minutes} minutes."),
          ("Log my {activity} workout.", "Record a {minutes} minute workout.")),
    )),
    Family("units", (
        F("convert_length", "Convert a length between units.",
          (_f("value", "The length.", "length"),
           _e("from_unit", "Source unit.", ("meters", "feet", "miles", "kilometers")),
           _e("to_unit", "Target unit.", ("meters", "feet", "miles", "kilometers"))),
          "a length conversion",
          ("Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?",
           "{value} {from_unit} in {to_unit}?", "Change {value} {from_unit} into {to_unit}.",
           "What is {value} {from_unit} expressed in {to_unit}?"),
          ("Convert {value} {from_unit}.", "How many {to_unit} is that?")),
    )),
    Family("sports", (
        F("get_score", "Latest score of a team.",
          (_s("team", "Team name.", "team"),),
          "a game score",
          ("What was the {team} score?", "Did the {team} win?", "Latest result for {team}.",
           "How did {team} do last game?", "Score of the last {team} match?"),
          ("What was the score?", "Did my team win?")),
        F("get_schedule", "Upcoming games of a team.",
          (_s("team", "Team name.", "team"), _i("season", "Season year.", "year", required=False)),
          "a team schedule",
          ("When do the {team} play next?", "Show the {team} schedule for {season}.", "Upcoming {team} games?",
           "List {team} games in the {season} season.", "What's next for {team}?"),
          ("Show the schedule for {season}.", "When is the next game?")),
    )),
    Family("movies", (
        F("find_showtimes", "Movie showtimes in a city.",
          (_s("movie", "Movie title.", "movie"), _s("city", "City name.", "city")),
          "movie showtimes",
          ("When is {movie} playing in {city}?", "Showtimes for {movie} in {city}.",
           "Where can I watch {movie} in {city}?", "Is {movie} on in {city} tonight?",
           "Find cinemas showing {movie} in {city}."),
          ("When is {movie} playing?", "Find showtimes in {city}.")),
    )),
    Family("tasks", (
        F("add_task", "Add a task to the to-do list.",
          (_s("task", "Task name.", "chore"), _s("due_date", "Due day.", "day", required=False)),
          "a new task",
          ("Add {task} to my to-do list.", "Remind me about the {task} by {due_date}.", "New task: {task}.",
           "Put {task} on my list, due {due_date}.", "I must do the {task}.", "Note down {task} as a task."),
          ("Add a task to my list.", "Add something due {due_date}.")),
    )),
    Family("smart_home", (
        F("set_thermostat", "Set the thermostat temperature.",
          (_f("temperature", "Degrees Celsius.", "temperature"),),
          "a thermostat change",
          ("Set the thermostat to {temperature} degrees.", "Heat the house to {temperature}.",
           "Make it {temperature} degrees inside.", "Thermostat at {temperature}, please.",
           "Change the heating to {temperature} degrees."),
          ("Set the thermostat.", "Make it warmer inside.")),
        F("turn_on_lights", "Turn on the lights in a room.",
          (_s("room", "Room name.", "room"),),
          "lights on",
          ("Turn on the lights in the {room}.", "Lights on in the {room}.", "Switch on the {room} lights.",
           "Light up the {room}.", "Can you turn the {room} lights on?"),
          ("Turn on the lights.", "Switch the lights on.")),
    )),
    Family("library", (
        F("find_book", "Look up a book by title.",
          (_s("title", "Book title.", "book"),),
          "a book lookup",
          ("Look up the book {title}.", "Who wrote {title}?", "Find the book {title}.",
           "Details for the book {title}, please.", "Tell me about the novel {title}."),
          ("Look up a book for me.", "Which book is this?")),
        F("define_word", "Dictionary definition of a word.",
          (_s("word", "The word.", "word"),),
          "a definition",
          ("What does {word} mean?", "Define {word}.", "Meaning of {word}?", "Give me the definition of {word}.",
           "Explain the word {word}."),
          ("What does this word mean?", "Define a word for me.")),
    )),
    Family("travel_info", (
        F("get_visa_rules", "Visa rules for a country.",
          (_s("country", "Destination country.", "country"),),
          "visa rules",
          ("Do I need a visa for {country}?", "Visa rules for {country}.", "What are the entry rules of {country}?",
           "Visa requirements to visit {country}?", "Can I enter {country} without a visa?"),
          ("Do I need a visa?", "What are the visa rules?")),
        F("get_local_time", "Current local time in a city.",
          (_s("city", "City name.", "city"),),
          "the local time",
          ("What time is it in {city}?", "Local time in {city}?", "Current time in {city}, please.",
           "Tell me the time in {city}.", "What's the clock in {city} now?"),
          ("What time is it there?", "Tell me the local time.")),
    )),
)  # fmt: skip

FUNCTIONS: tuple[Function, ...] = tuple(f for family in FAMILIES for f in family.functions)
FAMILY_OF: dict[str, str] = {f.name: family.name for family in FAMILIES for f in family.functions}
