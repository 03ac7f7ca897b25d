"""The group's master menu: menus, groups, items, list prices and modifier option groups.

Plain data; `menu.py` turns it into each location's menu. Prices are dollars written as
strings and converted to integer cents once (money never passes through a float).
Non-ASCII names (`Crème Brûlée`, `Jalapeño Poppers`, `Café au Lait`) are deliberate: real
exports carry them.
"""

# Option group name -> (modifier name, price) options. Sent with items as modifier rows.
OPTION_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "Temperature": (("Rare", "0"), ("Medium Rare", "0"), ("Medium", "0"), ("Medium Well", "0"), ("Well Done", "0")),
    "Cheese": (
        ("Cheddar", "0"), ("Swiss", "0"), ("Gruyère", "1.50"), ("Pepper Jack", "0"), ("Blue Cheese", "1"),
        ("No Cheese", "0"),
    ),
    "Burger Add-ons": (
        ("Add Bacon", "3"), ("Add Avocado", "2.50"), ("Fried Egg", "2"), ("Caramelized Onions", "1"),
        ("Extra Patty", "6"),
    ),
    "Side Choice": (
        ("Fries", "0"), ("Side Salad", "0"), ("Sweet Potato Fries", "1.50"), ("Truffle Fries", "3"),
        ("Onion Rings", "2"),
    ),
    "Add Protein": (
        ("Add Chicken", "6"), ("Add Salmon", "9"), ("Add Shrimp", "8"), ("Add Steak", "10"), ("Add Tofu", "4"),
    ),
    "Dressing": (
        ("Ranch", "0"), ("Balsamic", "0"), ("Caesar Dressing", "0"), ("Blue Cheese Dressing", "0"),
        ("Dressing on the Side", "0"),
    ),
    "Sauce": (("Buffalo", "0"), ("BBQ", "0"), ("Honey Garlic", "0"), ("Garlic Parmesan", "0"), ("Extra Sauce", "0.50")),
    "Pasta Add-ons": (
        ("Add Meatballs", "5"), ("Gluten-Free Pasta", "3"), ("Extra Parmigiano", "1"), ("Add Burrata", "6"),
    ),
    "Allergies": (("No Nuts", "0"), ("Gluten Free", "2"), ("Dairy Free", "0"), ("No Shellfish", "0")),
    "Egg Style": (
        ("Scrambled", "0"), ("Over Easy", "0"), ("Poached", "0"), ("Sunny Side Up", "0"), ("Egg Whites", "1.50"),
    ),
    "Sweet Add-ons": (("Scoop of Vanilla", "3"), ("Whipped Cream", "1"), ("Caramel Drizzle", "1")),
    "Spirit Upgrade": (("Premium Spirit", "3"), ("Top Shelf", "5"), ("Mezcal Swap", "2")),
    "Preparation": (("Up", "0"), ("On the Rocks", "0"), ("Extra Dirty", "0"), ("Twist", "0"), ("Salt Rim", "0")),
    "Pour Style": (("Neat", "0"), ("Rocks", "0"), ("Splash of Water", "0")),
    "Mixer": (("Soda", "0"), ("Tonic", "0"), ("Ginger Beer", "1"), ("Coke", "0"), ("Red Bull", "3")),
    "Milk": (
        ("Oat Milk", "0.75"), ("Almond Milk", "0.75"), ("Whole Milk", "0"), ("Skim Milk", "0"), ("Extra Shot", "1"),
    ),
}

# One menu group: (menu, group, subgroup, sales category, kitchen station or "" for none,
# option groups, items as (name, price)).
MenuGroupSpec = tuple[str, str, str, str, str, tuple[str, ...], tuple[tuple[str, str], ...]]

_STARTERS = (
    ("Jalapeño Poppers", "11"), ("Crispy Calamari", "15"), ("Burrata", "16"), ("Deviled Eggs", "9"),
    ("Chicken Wings", "15"), ("Tuna Tartare", "18"), ("Shishito Peppers", "10"), ("Spinach Artichoke Dip", "13"),
    ("Brussels Sprouts", "12"), ("Pork Belly Bao", "14"), ("Fried Pickles", "9"), ("Crab Cakes", "19"),
    ("Hummus Plate", "11"), ("Loaded Nachos", "14"), ("Meatballs", "13"),
)
_SALADS = (
    ("Caesar Salad", "12"), ("Wedge Salad", "13"), ("Kale & Quinoa Salad", "14"), ("Beet & Chèvre Salad", "14"),
    ("Salade Niçoise", "17"), ("Cobb Salad", "16"), ("Greek Salad", "13"), ("House Greens", "9"),
)
_BURGERS = (
    ("Classic Burger", "17"), ("Smash Burger", "16"), ("Bison Burger", "21"), ("Veggie Burger", "16"),
    ("Blue Cheese Burger", "18"),
)
_BURGER_OPTIONS = ("Temperature", "Cheese", "Burger Add-ons", "Side Choice")
_SIDES = (
    ("Fries", "6"), ("Truffle Fries", "9"), ("Sweet Potato Fries", "7"), ("Mac & Cheese", "8"),
    ("Broccolini", "8"), ("Mashed Potatoes", "7"), ("Onion Rings", "7"), ("Side Salad", "6"),
    ("Grilled Asparagus", "9"), ("Creamed Spinach", "8"),
)
_WINES = (
    ("Pinot Noir", "14", "56"), ("Cabernet Sauvignon", "15", "60"), ("Malbec", "13", "50"), ("Merlot", "12", "46"),
    ("Chianti Classico", "14", "54"), ("Rioja Crianza", "13", "50"), ("Côtes du Rhône", "12", "46"),
    ("Zinfandel", "13", "50"), ("Chardonnay", "13", "50"), ("Sauvignon Blanc", "12", "46"),
    ("Pinot Grigio", "11", "42"), ("Riesling", "12", "46"), ("Albariño", "13", "50"),
    ("Grüner Veltliner", "13", "50"), ("Chenin Blanc", "12", "46"), ("Provence Rosé", "13", "50"),
    ("Prosecco", "11", "44"), ("Cava", "11", "42"), ("Champagne", "22", "95"),
)
_SPIRITS = (
    ("Whiskey", (("Maker's Mark", "11"), ("Bulleit Bourbon", "11"), ("Woodford Reserve", "13"), ("Buffalo Trace", "12"),
                 ("Jameson", "10"), ("Macallan 12", "18"), ("Lagavulin 16", "22"), ("Glenlivet 12", "15"),
                 ("Jack Daniel's", "10"), ("Rittenhouse Rye", "11"))),
    ("Tequila & Mezcal", (("Casamigos Blanco", "14"), ("Don Julio Blanco", "14"), ("Patrón Silver", "13"),
                          ("Espolón Reposado", "11"), ("Del Maguey Vida", "13"))),
    ("Vodka", (("Tito's", "10"), ("Grey Goose", "13"), ("Ketel One", "11"), ("Belvedere", "13"))),
    ("Gin", (("Hendrick's", "13"), ("Tanqueray", "11"), ("Bombay Sapphire", "11"), ("The Botanist", "13"))),
    ("Rum", (("Bacardí Superior", "9"), ("Diplomático Reserva", "12"), ("Mount Gay Eclipse", "10"))),
    ("Amaro & Liqueur", (("Fernet-Branca", "10"), ("Aperol", "9"), ("Green Chartreuse", "15"), ("Amaro Nonino", "14"))),
)


def _spirit_groups() -> tuple[MenuGroupSpec, ...]:
    """Every spirit as a single and a double pour: the bar's long tail of product-mix rows."""
    groups = []
    for subgroup, bottles in _SPIRITS:
        items = []
        for name, price in bottles:
            items.append((name, price))
            items.append((f"{name} (Double)", str(int(price) * 2 - 2)))
        groups.append(("Bar", "Spirits", subgroup, "Liquor", "Bar", ("Pour Style", "Mixer"), tuple(items)))
    return tuple(groups)


def _discounted(items: tuple[tuple[str, str], ...], off: int) -> tuple[tuple[str, str], ...]:
    """The same dishes at a lower lunch or happy-hour price (never below $4)."""
    return tuple((name, str(max(4, int(price) - off))) for name, price in items)


MENU_GROUPS: tuple[MenuGroupSpec, ...] = (
    ("Dinner", "Starters", "", "Food", "Fry", ("Sauce", "Allergies"), _STARTERS),
    ("Dinner", "Salads", "", "Food", "Garde Manger", ("Add Protein", "Dressing"), _SALADS),
    ("Dinner", "Mains", "Burgers", "Food", "Grill", _BURGER_OPTIONS, _BURGERS),
    ("Dinner", "Mains", "Steaks", "Food", "Grill", ("Temperature", "Side Choice"), (
        ("Ribeye", "42"), ("NY Strip", "38"), ("Filet Mignon", "46"), ("Steak Frites", "32"))),
    ("Dinner", "Mains", "Seafood", "Food", "Sauté", ("Allergies",), (
        ("Roasted Salmon", "29"), ("Seared Scallops", "34"), ("Fish & Chips", "22"), ("Shrimp & Grits", "26"),
        ("Lobster Roll", "31"))),
    ("Dinner", "Mains", "Pasta", "Food", "Sauté", ("Pasta Add-ons", "Allergies"), (
        ("Rigatoni alla Vodka", "21"), ("Cacio e Pepe", "19"), ("Bolognese", "23"), ("Mushroom Risotto", "22"),
        ("Lobster Mac", "27"))),
    ("Dinner", "Mains", "Entrées", "Food", "Grill", ("Side Choice", "Allergies"), (
        ("Roast Chicken", "25"), ("Braised Short Rib", "34"), ("Pork Chop", "29"), ("Duck Confit", "31"),
        ("Chicken Parm", "24"))),
    ("Dinner", "Sides", "", "Food", "Fry", (), _SIDES),
    ("Lunch", "Starters", "", "Food", "Fry", ("Sauce",), _discounted(_STARTERS, 2)),
    ("Lunch", "Salads", "", "Food", "Garde Manger", ("Add Protein", "Dressing"), _discounted(_SALADS, 1)),
    ("Lunch", "Burgers", "", "Food", "Grill", _BURGER_OPTIONS, _discounted(_BURGERS, 2)),
    ("Lunch", "Sandwiches", "", "Food", "Grill", ("Side Choice",), (
        ("Turkey Club", "15"), ("BLT", "13"), ("Reuben", "16"), ("Cubano", "15"), ("Bánh Mì", "14"),
        ("Chicken Caesar Wrap", "14"), ("Croque Monsieur", "15"), ("Grilled Cheese & Tomato Soup", "13"))),
    ("Lunch", "Bowls", "", "Food", "Garde Manger", ("Add Protein",), (
        ("Poke Bowl", "17"), ("Burrito Bowl", "14"), ("Grain Bowl", "14"), ("Teriyaki Chicken Bowl", "15"))),
    ("Lunch", "Soups", "", "Food", "Sauté", (), (
        ("Tomato Bisque", "8"), ("French Onion Soup", "10"), ("Clam Chowder", "10"), ("Soup du Jour", "8"))),
    ("Lunch", "Sides", "", "Food", "Fry", (), _discounted(_SIDES, 1)),
    ("Brunch", "Brunch Plates", "", "Food", "Flat Top", ("Egg Style", "Allergies"), (
        ("Eggs Benedict", "17"), ("Avocado Toast", "14"), ("Buttermilk Pancakes", "13"), ("Brioche French Toast", "14"),
        ("Chicken & Waffles", "19"), ("Huevos Rancheros", "15"), ("Shakshuka", "16"), ("Three-Egg Omelette", "15"),
        ("Breakfast Burrito", "14"), ("Steak & Eggs", "26"), ("Açaí Bowl", "13"), ("Bagel & Lox", "16"),
        ("Biscuits & Gravy", "13"), ("Granola Parfait", "10"))),
    ("Brunch", "Brunch Drinks", "", "Liquor", "Bar", (), (
        ("Mimosa", "11"), ("Bloody Mary", "13"), ("Bellini", "12"), ("Mimosa Carafe", "38"),
        ("Irish Coffee", "13"), ("Espresso Martini", "15"))),
    ("Bar", "Cocktails", "", "Liquor", "Bar", ("Spirit Upgrade", "Preparation"), (
        ("Old Fashioned", "15"), ("Margarita", "14"), ("Negroni", "15"), ("Manhattan", "15"), ("Mojito", "13"),
        ("Moscow Mule", "13"), ("Whiskey Sour", "14"), ("Paloma", "13"), ("Aperol Spritz", "13"),
        ("Espresso Martini", "16"), ("French 75", "15"), ("Dark & Stormy", "13"), ("Cosmopolitan", "14"),
        ("Dirty Martini", "15"), ("Mai Tai", "15"), ("Sazerac", "16"), ("Gimlet", "14"), ("Pisco Sour", "15"),
        ("Penicillin", "16"), ("Last Word", "16"))),
    ("Bar", "Beer", "Draft", "Beer", "Bar", (), (
        ("House IPA", "8"), ("Pilsner", "7"), ("Oatmeal Stout", "8"), ("Hefeweizen", "8"), ("Amber Ale", "7"),
        ("Sour of the Month", "9"), ("Mexican Lager", "7"), ("Pale Ale", "7"), ("Porter", "8"), ("Dry Cider", "8"),
        ("Kölsch", "7"), ("Farmhouse Saison", "9"))),
    ("Bar", "Beer", "Bottles & Cans", "Beer", "Bar", (), (
        ("Corona", "6"), ("Modelo Especial", "6"), ("Heineken", "6"), ("Stella Artois", "7"), ("Guinness", "7"),
        ("Miller Lite", "5"), ("Coors Light", "5"), ("Bud Light", "5"), ("Blue Moon", "6"), ("Sierra Nevada", "7"),
        ("Dogfish Head 60", "7"), ("Lagunitas IPA", "7"), ("Pacifico", "6"), ("Hard Seltzer", "7"),
        ("Athletic N/A", "6"))),
    ("Bar", "Wine", "By the Glass", "Wine", "Bar", (), tuple((f"{n} (Glass)", g) for n, g, _ in _WINES)),
    ("Bar", "Wine", "By the Bottle", "Wine", "Bar", (), tuple((f"{n} (Bottle)", b) for n, _, b in _WINES)),
    *_spirit_groups(),
    ("Bar", "N/A Beverages", "", "N/A Beverage", "Bar", ("Milk",), (
        ("Coke", "4"), ("Diet Coke", "4"), ("Sprite", "4"), ("Ginger Ale", "4"), ("Iced Tea", "4"),
        ("Lemonade", "5"), ("Arnold Palmer", "5"), ("Sparkling Water", "6"), ("Still Water", "6"), ("Drip Coffee", "4"),
        ("Espresso", "4"), ("Cappuccino", "5"), ("Latte", "5"), ("Café au Lait", "5"), ("Hot Tea", "4"),
        ("Orange Juice", "5"), ("Root Beer", "4"), ("Club Soda", "3"), ("Shirley Temple", "5"), ("Mocktail", "9"))),
    ("Happy Hour", "HH Drinks", "", "Liquor", "Bar", ("Preparation",), (
        ("HH Margarita", "9"), ("HH Old Fashioned", "10"), ("HH Mule", "9"), ("HH Spritz", "9"),
        ("HH Draft", "5"), ("HH House Red", "8"), ("HH House White", "8"), ("HH Well Drink", "7"))),
    ("Happy Hour", "HH Bites", "", "Food", "Fry", ("Sauce",), (
        ("Oysters (Half Dozen)", "15"), ("HH Sliders", "10"), ("HH Fries", "5"), ("HH Wings", "10"),
        ("HH Jalapeño Poppers", "7"), ("HH Flatbread", "10"))),
    ("Dessert", "Desserts", "", "Food", "Pastry", ("Sweet Add-ons",), (
        ("Crème Brûlée", "10"), ("Chocolate Lava Cake", "11"), ("Tiramisù", "10"), ("Key Lime Pie", "9"),
        ("Cheesecake", "10"), ("Affogato", "8"), ("Sorbet Trio", "8"), ("Apple Crumble", "9"))),
    ("Dessert", "After Dinner", "", "Liquor", "Bar", (), (
        ("Tawny Port", "12"), ("Sauternes", "14"), ("Limoncello", "9"), ("Amaretto", "9"), ("Crème de Menthe", "9"))),
    ("Kids", "Kids Menu", "", "Food", "Fry", (), (
        ("Chicken Tenders", "9"), ("Kids Burger", "9"), ("Kids Mac & Cheese", "8"), ("Kids Grilled Cheese", "8"),
        ("Buttered Noodles", "7"), ("Kids Sundae", "5"), ("Fruit Cup", "4"), ("Kids Lemonade", "3"))),
    ("Late Night", "Late Night Bites", "", "Food", "Fry", ("Sauce",), (
        ("Late Night Burger", "14"), ("Loaded Fries", "11"), ("Chicken Sandwich", "13"), ("Quesadilla", "12"),
        ("Pretzel Bites", "10"), ("Late Night Tacos", "12"))),
    ("Catering", "Platters", "", "Food", "Garde Manger", (), (
        ("Sandwich Platter", "120"), ("Wings Party Pack", "95"), ("Salad Bowl (Large)", "60"),
        ("Cookie Tray", "40"), ("Taco Bar for 10", "150"))),
    ("Retail", "Gift Cards", "", "Gift Card", "", (), (
        ("Gift Card $25", "25"), ("Gift Card $50", "50"), ("Gift Card $100", "100"))),
    ("Retail", "Merchandise", "", "Retail", "", (), (
        ("Logo T-Shirt", "25"), ("Trucker Hat", "22"), ("Tote Bag", "15"), ("House Hot Sauce", "9"),
        ("Pint Glass", "10"))),
)

# Menus every location serves in full; other groups are sampled per location.
CORE_GROUPS: frozenset[tuple[str, str]] = frozenset(
    {
        ("Dinner", "Starters"),
        ("Dinner", "Mains"),
        ("Dinner", "Sides"),
        ("Bar", "Cocktails"),
        ("Bar", "N/A Beverages"),
        ("Retail", "Gift Cards"),
        ("Dessert", "Desserts"),
    }
)

GIFT_CARD_GROUP = ("Retail", "Gift Cards")

TAGS: tuple[str, ...] = ("Vegetarian", "Gluten Free", "Spicy", "Vegan", "Chef's Pick", "Seasonal")
