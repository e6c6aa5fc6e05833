"""Generated tools: made-up tools composed afresh for every task, so that none can be memorised.

The hand-written tools of :mod:`cluster.synthetic.families` are few. A policy trained on them learns
which tool serves which topic, and treats a tool it has never seen as one that does not fit:
SmolLM2 warm-started and then trained with EGPO on them answered "None of the given functions can
do that" to 112 of 320 BFCL call questions, against 76 before RL (README, "On BFCL"). A generated
tool is a subject (``the area of a triangle``), a verb and one to three parameters drawn from
pools (often one of them an enum, an optional parameter or a boolean flag, as BFCL's tools have),
with a name that may carry a dotted namespace (``geometry.calculate_triangle_area``), as BFCL's
often do. The only way to its right call is to read the offered tools: match the request's
subject to a description, copy the exact name, and carry the values over, decimals and lists too.

Validation holds out, as for the hand-written tools, the last request pattern and the last
namespace; subjects, verbs and parameters are shared (a tool is new in every task anyway).
"""

from __future__ import annotations

import random

from cluster.synthetic.families import Function, Param, _b, _e, _i

# (phrase in a request, snake-case name part)
SUBJECTS = (
    ("the area of a triangle", "triangle_area"), ("the area of a circle", "circle_area"),
    ("the volume of a cylinder", "cylinder_volume"), ("the perimeter of a rectangle", "rectangle_perimeter"),
    ("the compound interest", "compound_interest"), ("the monthly loan payment", "loan_payment"),
    ("the body mass index", "bmi"), ("the travel time", "travel_time"), ("the fuel cost", "fuel_cost"),
    ("the final velocity", "final_velocity"), ("the kinetic energy", "kinetic_energy"),
    ("the density of an object", "density"), ("the electric resistance", "resistance"),
    ("the population growth", "population_growth"), ("the average score", "average_score"),
    ("the standard deviation", "standard_deviation"), ("the greatest common divisor", "greatest_common_divisor"),
    ("the least common multiple", "least_common_multiple"), ("the factorial of a number", "factorial"),
    ("the prime factors of a number", "prime_factors"), ("the roots of a quadratic equation", "quadratic_roots"),
    ("the distance between two points", "point_distance"), ("the sales tax", "sales_tax"),
    ("the tip for a bill", "tip"), ("the calories burned", "calories_burned"),
    ("the return on investment", "roi"), ("the probability of an event", "event_probability"),
    ("the median of a list", "median"), ("the carbon footprint", "carbon_footprint"),
    ("the hotel availability", "hotel_availability"), ("the museum opening hours", "museum_hours"),
    ("the restaurant rating", "restaurant_rating"), ("the stock dividend", "stock_dividend"),
    ("the exchange fee", "exchange_fee"), ("the shipping cost", "shipping_cost"),
    ("the paint needed for a wall", "paint_needed"), ("the heat loss of a room", "heat_loss"),
    ("the half-life decay", "half_life_decay"), ("the boiling point", "boiling_point"),
    ("the wind chill", "wind_chill"), ("the flight emissions", "flight_emissions"),
    ("the rental price", "rental_price"), ("the movie showtimes", "movie_showtimes"),
    ("the concert tickets", "concert_tickets"), ("the library books", "library_books"),
)  # fmt: skip
VERBS = ("calculate", "compute", "get", "find", "estimate", "determine")
NAMESPACES = ("math", "geometry", "finance", "physics", "stats", "travel", "utils", "science", "api")
# (name, type, phrase before the value, value pool of cluster.synthetic.pools)
PARAMETERS = (
    ("base", "integer", "a base of", "length"), ("height", "integer", "a height of", "length"),
    ("radius", "integer", "a radius of", "length"), ("width", "integer", "a width of", "length"),
    ("length", "integer", "a length of", "length"), ("distance", "integer", "a distance of", "amount"),
    ("principal", "integer", "a principal of", "amount"), ("years", "integer", "a period in years of", "small_int"),
    ("count", "integer", "a count of", "count"), ("number", "integer", "the number", "big_int"),
    ("mass", "integer", "a mass of", "amount"), ("speed", "integer", "a speed of", "amount"),
    ("rate", "float", "a rate of", "float"), ("probability", "float", "a probability of", "float"),
    ("weight", "float", "a weight of", "float"), ("ratio", "float", "a ratio of", "float"),
    ("city", "string", "the city", "city"), ("country", "string", "the country", "country"),
    ("name", "string", "the name", "name"), ("currency", "string", "the currency", "currency"),
    ("day", "string", "the day", "day"), ("year", "integer", "the year", "year"),
    ("numbers", "array", "the numbers", "int_list"), ("scores", "array", "the scores", "int_list"),
    ("cities", "array", "the cities", "city_list"),
)  # fmt: skip
# The other shapes of BFCL's parameters: one of these joins 60% of the tools that have one or two
# parameters (``EXTRA_SHARE``), with the phrase before its value in a request (a boolean is stated
# by its own ``phrase``). An optional one is stated in half the tools that have it; unstated, the
# right call omits it or passes its default, as BFCL's possible answers say.
EXTRA_PARAMETERS = (
    (_e("unit", "Unit system.", ("metric", "imperial")), "the unit system"),
    (_e("method", "Method of computation.", ("exact", "approximate")), "the method"),
    (_e("period", "Reporting period.", ("daily", "monthly", "yearly")), "the period"),
    (_e("mode", "Mode of transport.", ("driving", "walking", "cycling"), required=False, default="driving"),
     "the mode"),
    (_i("precision", "Decimal places of the result.", "small_int", required=False, default=2), "a precision of"),
    (_b("round_result", "Round the result.", "the result rounded"), ""),
    (_b("detailed", "Include a breakdown.", "with a breakdown"), ""),
)  # fmt: skip
EXTRA_SHARE = 0.6
# Request patterns; {verb}/{Verb} the verb, {subject} the subject, {args} the stated parameters
PATTERNS = (
    "{Verb} {subject} with {args}.", "I need {subject} for {args}.", "What is {subject} with {args}?",
    "Can you {verb} {subject} given {args}?", "Please {verb} {subject}: {args}.",
    "Help me {verb} {subject} where I have {args}.",
)  # fmt: skip
MISSING = ("{Verb} {subject} for me.", "I need {subject}.", "Can you {verb} {subject}?")


def generated_tools(rng: random.Random, count: int, split: str) -> list[Function]:
    """``count`` fresh tools with distinct subjects (names may repeat a verb, never a subject)."""
    patterns = PATTERNS[:-1] if split == "train" else PATTERNS[-1:]
    tools = []
    for phrase, snake in rng.sample(SUBJECTS, count):
        verb, name = _verb_and_name(rng, snake, split)
        chosen = rng.sample(PARAMETERS, rng.randint(1, 3))
        params = [
            Param(p_name, p_type, f"The {p_name.replace('_', ' ')}.", pool=kind, items=_items(kind))
            for p_name, p_type, _, kind in chosen
        ]
        stated = [f"{before} {{{p_name}}}" for p_name, _, before, _ in chosen]
        if len(chosen) < 3 and rng.random() < EXTRA_SHARE:  # three at most: references stay short
            extra, before = rng.choice(EXTRA_PARAMETERS)
            params.append(extra)
            if extra.required or rng.random() < 0.5:
                stated.append(
                    f"{{{extra.name}}}" if extra.type == "boolean" else f"{before} {{{extra.name}}}"
                )
        params = tuple(params)
        args = join_words(stated)
        fill = {"verb": verb, "Verb": verb.capitalize(), "subject": phrase}
        templates = tuple(p.format(args=args, **fill) for p in rng.sample(patterns, min(3, len(patterns))))
        missing = tuple(m.format(**fill) for m in MISSING)
        description = f"{verb.capitalize()} {phrase}."
        tools.append(Function(name, description, params, phrase, templates, missing))
    return tools


STOP_WORDS = frozenset({"the", "a", "an", "of", "for", "between", "two", "needed"})


def look_alikes(rng: random.Random, tool: Function, count: int, split: str) -> list[Function]:
    """``count`` generated tools that do not do what ``tool`` does but look like it: each takes
    exactly ``tool``'s parameters, and its subject shares a word with ``tool``'s where one can
    (``the area of a circle`` for ``the area of a triangle``). Offered for a request to ``tool``,
    they make a no-call task that reading names or argument names cannot solve, as BFCL's
    irrelevance questions (a triangle's base and height offered a body-mass-index tool that takes
    a height)."""
    words = _content_words(tool.topic)
    others = [s for s in SUBJECTS if s[0] != tool.topic and s[1] not in tool.name]
    close = [s for s in others if _content_words(s[0]) & words]
    picked: list[tuple[str, str]] = []
    for _ in range(count):
        choices = [s for s in (close if close and rng.random() < 0.5 else others) if s not in picked]
        picked.append(rng.choice(choices or [s for s in others if s not in picked]))
    tools = []
    for phrase, snake in picked:
        verb, name = _verb_and_name(rng, snake, split)
        tools.append(Function(name, f"{verb.capitalize()} {phrase}.", tool.params, phrase, (), ()))
    return tools


def _verb_and_name(rng: random.Random, snake: str, split: str) -> tuple[str, str]:
    """A tool's verb and its name (``verb_snake``, in 40% of names under a namespace of ``split``)."""
    verb = rng.choice(VERBS)
    name = f"{verb}_{snake}"
    if rng.random() < 0.4:
        namespaces = NAMESPACES[:-1] if split == "train" else NAMESPACES[-1:]
        name = f"{rng.choice(namespaces)}.{name}"
    return verb, name


def _content_words(phrase: str) -> set[str]:
    return {w for w in phrase.lower().replace("-", " ").split() if w not in STOP_WORDS}


def _items(kind: str) -> str | None:
    return {"int_list": "integer", "city_list": "string"}.get(kind)


def join_words(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: how a request lists things."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
