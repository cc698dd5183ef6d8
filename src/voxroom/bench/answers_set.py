"""What `voxroom bench answers` asks: short general-knowledge and everyday questions with the
answers accepted for each, everyday remarks for long sessions, and the concierge's tool turns.

Written for this bench (not taken from a data set). Each question lists the words a right
answer contains (any one of them; number words count as their digits); none of them is in
the question itself, so an echo is never right. The set is split in two halves, alternating:
`TUNING` (prompts and settings were tuned looking at these) and `HOLDOUT` (never looked at
while tuning: the figure a user can expect on questions nobody tuned for).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    accept: tuple[str, ...]


def _q(text: str, *accept: str) -> Question:
    return Question(text, accept)


QUESTIONS: list[Question] = [
    # places
    _q("What is the capital of France?", "paris"),
    _q("What is the capital of Japan?", "tokyo"),
    _q("What is the capital of Spain?", "madrid"),
    _q("What is the capital of Germany?", "berlin"),
    _q("What is the capital of England?", "london"),
    _q("What is the capital of Russia?", "moscow"),
    _q("What is the capital of Egypt?", "cairo"),
    _q("What is the capital of Canada?", "ottawa"),
    _q("What is the capital of Australia?", "canberra"),
    _q("What is the capital of China?", "beijing"),
    _q("What is the largest ocean on Earth?", "pacific"),
    _q("What is the longest river in Africa?", "nile"),
    _q("On which continent is Brazil?", "south america"),
    _q("On which continent is Kenya?", "africa"),
    _q("What is the tallest mountain in the world?", "everest"),
    _q("Which country is home to the Eiffel Tower?", "france", "paris"),
    _q("In which city is the Statue of Liberty?", "new york"),
    _q("What is the largest desert in Africa?", "sahara"),
    _q("Which country lies directly north of the United States?", "canada"),
    _q("Which ocean lies between Europe and North America?", "atlantic"),
    _q("What is the largest country in the world by area?", "russia"),
    _q("In which country are the pyramids of Giza?", "egypt"),
    _q("What language do people speak in Brazil?", "portuguese"),
    _q("What language is spoken in Mexico?", "spanish"),
    _q("Which country is famous for kangaroos?", "australia"),
    _q("What is the capital of the United States?", "washington"),
    # sky and science
    _q("Which planet do we live on?", "earth"),
    _q("Which planet is known as the Red Planet?", "mars"),
    _q("What is the largest planet in our solar system?", "jupiter"),
    _q("What is the star at the center of our solar system?", "sun"),
    _q("What gas do people need to breathe to stay alive?", "oxygen"),
    _q("What gas do plants take in from the air?", "carbon dioxide", "co2"),
    _q("What is H2O commonly called?", "water"),
    _q("At how many degrees Celsius does water freeze?", "0", "zero"),
    _q("At how many degrees Celsius does water boil?", "100"),
    _q("What force pulls things down toward the ground?", "gravity"),
    _q("What is the chemical symbol for gold?", "au"),
    _q("What do we call water when it is frozen solid?", "ice"),
    _q("How many planets are in our solar system?", "8"),
    _q("What is the name of the Earth's natural satellite?", "moon"),
    _q("Which planet is famous for its rings?", "saturn"),
    _q("Which organ pumps blood through the body?", "heart"),
    _q("Which organ do we think with?", "brain"),
    _q("What is the hardest natural material?", "diamond"),
    _q("Which planet is closest to the Sun?", "mercury"),
    _q("What do we call the gas that makes up most of the Earth's air?", "nitrogen"),
    _q("What color do you get when you mix blue and yellow?", "green"),
    _q("What color do you get when you mix red and white?", "pink"),
    _q("What color do you get when you mix red and yellow?", "orange"),
    _q("What color is grass?", "green"),
    _q("What color is a ripe banana?", "yellow"),
    _q("What color is fresh snow?", "white"),
    _q("What color is the sky on a clear day?", "blue"),
    _q("What color are ripe strawberries?", "red"),
    # animals
    _q("What is the largest mammal on Earth?", "whale"),
    _q("What is the fastest land animal?", "cheetah"),
    _q("Which animal is called the king of the jungle?", "lion"),
    _q("What do you call a baby cat?", "kitten"),
    _q("What do you call a baby dog?", "puppy", "puppies", "pup"),
    _q("What do you call a baby cow?", "calf", "calves"),
    _q("Which farm animal says moo?", "cow"),
    _q("Which animal has the longest neck?", "giraffe"),
    _q("Which bird cannot fly and lives in Antarctica?", "penguin"),
    _q("What does a caterpillar turn into?", "butterfly", "butterflies", "moth"),
    _q("How many legs does a spider have?", "8"),
    _q("How many legs does an insect have?", "6"),
    _q("Which animal has black and white stripes?", "zebra"),
    _q("Which farm animal gives us wool?", "sheep"),
    _q("What do pandas mostly eat?", "bamboo"),
    _q("What is a group of wolves called?", "pack"),
    _q("What is the largest bird in the world?", "ostrich"),
    _q("What does a young frog start its life as?", "tadpole"),
    _q("What do bees make?", "honey"),
    _q("How many legs does a dog have?", "4"),
    _q("Which animal barks?", "dog"),
    _q("Which animal says meow?", "cat", "kitten"),
    # numbers and time
    _q("How many days are in a week?", "7"),
    _q("How many months are in a year?", "12"),
    _q("How many hours are in a day?", "24"),
    _q("How many minutes are in an hour?", "60"),
    _q("How many days are in a leap year?", "366"),
    _q("How many sides does a triangle have?", "3"),
    _q("How many sides does a square have?", "4"),
    _q("How many wheels does a bicycle have?", "2"),
    _q("What is two plus two?", "4"),
    _q("What is ten minus three?", "7"),
    _q("How many cents are in a dollar?", "100"),
    _q("Which day comes after Monday?", "tuesday"),
    _q("Which month comes after June?", "july"),
    _q("Which month of the year is the shortest?", "february"),
    _q("What is the first month of the year?", "january"),
    _q("Which season comes after winter?", "spring"),
    _q("In which season do trees lose their leaves?", "autumn", "fall"),
    _q("How many players does a soccer team have on the field?", "11"),
    # everyday life
    _q("What do you use to cut paper?", "scissors"),
    _q("What do you write on a blackboard with?", "chalk"),
    _q("What do you use to brush your teeth?", "toothbrush", "toothpaste"),
    _q("What is the first meal of the day called?", "breakfast"),
    _q("Where do you keep food cold at home?", "fridge", "refrigerator", "freezer"),
    _q("What do you need to open a locked door?", "key"),
    _q("What do people carry to stay dry when it rains?", "umbrella"),
    _q("What do you call the person who flies a plane?", "pilot"),
    _q("Who looks after sick people in a hospital?", "doctor", "nurse"),
    _q("What is the opposite of hot?", "cold"),
    _q("What is the opposite of up?", "down"),
    _q("What is the plural of mouse?", "mice"),
    _q("What is the plural of child?", "children"),
    _q("What do you call a person who bakes bread?", "baker"),
    _q("In which room of a house do people usually cook?", "kitchen"),
    _q("What do you stick on an envelope before you mail it?", "stamp"),
    _q("What do you call a shop that sells medicine?", "pharmacy", "drugstore", "chemist"),
    _q("What do you wear on your feet?", "shoe", "sock", "boot"),
    _q("Which fruit do raisins come from?", "grape"),
    _q("What is the main ingredient of guacamole?", "avocado"),
    _q("What is made from milk and melted on top of pizza?", "cheese"),
    _q("What grain is sushi made with?", "rice"),
    _q("What vegetable are French fries made from?", "potato"),
    _q("Which orange vegetable do rabbits love?", "carrot"),
    # people, culture, money
    _q("Who wrote Romeo and Juliet?", "shakespeare"),
    _q("Who painted the Mona Lisa?", "leonardo", "da vinci"),
    _q("Who was the first president of the United States?", "washington"),
    _q("Which scientist described gravity after seeing an apple fall?", "newton"),
    _q("Which scientist developed the theory of relativity?", "einstein"),
    _q("Which instrument has black and white keys?", "piano", "keyboard"),
    _q("How many strings does a standard guitar have?", "6"),
    _q("Which sport is played at Wimbledon?", "tennis"),
    _q("Who was the first person to walk on the Moon?", "armstrong"),
    _q("Which famous ship sank in 1912 after hitting an iceberg?", "titanic"),
    _q("What is the currency of Japan?", "yen"),
    _q("What is the currency of the United States?", "dollar"),
]

TUNING = QUESTIONS[0::2]
HOLDOUT = QUESTIONS[1::2]

# Everyday remarks and requests on changing topics, for the long sessions: the replies should
# stay varied (no answer is scored right or wrong).
REMARKS: list[str] = [
    "I'm going to Rome next week.",
    "My cat knocked a plant off the shelf this morning.",
    "Can you suggest a name for a goldfish?",
    "What should I cook for dinner tonight?",
    "I just finished a long run.",
    "It's raining here again.",
    "I can't decide which movie to watch.",
    "My sister is getting married in June.",
    "How can I fall asleep faster?",
    "I started learning the guitar.",
    "The train was late this morning.",
    "Do you have a tip for staying focused at work?",
    "I'm thinking about painting my bedroom blue.",
    "We adopted a puppy yesterday.",
    "What's a good snack for a road trip?",
    "My laptop is getting slow.",
    "I want to read more books this year.",
    "It's my birthday today.",
    "I burned the toast again.",
    "Any ideas for a rainy Sunday?",
    "I'm nervous about my job interview tomorrow.",
    "Our neighbors are having a loud party.",
    "I'm planting tomatoes in the garden.",
    "How do I keep my houseplants alive?",
    "I just moved to a new city.",
    "The coffee shop on my street closed down.",
    "What's a good way to save money?",
    "My son wants to learn to swim.",
    "I'm visiting my grandparents this weekend.",
    "I lost my keys again.",
    "Can you recommend a board game for four people?",
    "I've been feeling tired lately.",
    "We're going camping in the mountains.",
    "I want to start running in the mornings.",
    "My phone battery dies so fast.",
    "I'm baking a cake for a friend.",
    "The heating in my flat is broken.",
    "What should I pack for a beach holiday?",
    "I'm learning to speak Spanish.",
    "My favorite team lost last night.",
    "How do I get better at cooking?",
    "I'm going to a concert on Friday.",
    "There's a lot of snow outside today.",
    "I need a gift idea for my dad.",
    "My daughter just lost her first tooth.",
    "I'm trying to drink more water.",
    "We're redecorating the living room.",
    "I finally fixed my bike.",
    "What's a fun thing to do with kids indoors?",
    "I'm tired of eating pasta every day.",
    "My friend is coming to visit from Canada.",
    "How long should I boil pasta?",
    "I'm thinking of getting a cat.",
    "Our flight got cancelled.",
    "I'm making soup tonight.",
    "What's a polite way to say no to a party?",
    "I just watched a documentary about sharks.",
    "The park near my house is beautiful in autumn.",
    "I want to learn how to draw.",
    "My car needs new tires.",
    "I'm going hiking tomorrow morning.",
    "Do you know a good stretch for back pain?",
    "I've started a vegetable garden on my balcony.",
    "We're having a barbecue on Saturday.",
    "I keep forgetting people's names.",
    "I'm writing a letter to an old friend.",
    "My neighbor's dog barks all night.",
    "I want to visit Japan one day.",
    "What's an easy dessert to make?",
    "I'm reorganizing my closet.",
]


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """A guest's turn to the concierge: the tool it asks for (None: an answer in words), and
    for a booking the time and destination a right call carries."""

    text: str
    tool: str | None = None
    time: str | None = None
    destination: str | None = None


TOOL_TURNS: list[ToolTurn] = [
    ToolTurn("Please book me a taxi to the airport at 7 pm.", "book_taxi", "7 pm", "airport"),
    ToolTurn("When is breakfast served?"),
    ToolTurn("I need a cab to the opera at 8 pm.", "book_taxi", "8 pm", "opera"),
    ToolTurn("What is the wifi password?"),
    ToolTurn(
        "Could you get me a taxi to the train station at 5 am?", "book_taxi", "5 am", "station"
    ),
    ToolTurn("How late is the pool open?"),
    ToolTurn("Book a taxi to the harbor for 10 am, please.", "book_taxi", "10 am", "harbor"),
    ToolTurn("What time is checkout?"),
    ToolTurn("I'd like a taxi to the old town at 3 pm.", "book_taxi", "3 pm", "old town"),
    ToolTurn("Thank you, that's all for now."),
    ToolTurn("Can you order a cab to the stadium at 6:30 pm?", "book_taxi", "6:30 pm", "stadium"),
    ToolTurn("Is breakfast included in the garden room?"),
    ToolTurn("Please call a taxi to the hospital at 9 am.", "book_taxi", "9 am", "hospital"),
    ToolTurn("Where is the pool?"),
    ToolTurn("Get me a taxi to the zoo at 11 am.", "book_taxi", "11 am", "zoo"),
    ToolTurn("Can I check out late?"),
    ToolTurn(
        "I need a taxi to the conference center at 4 pm.", "book_taxi", "4 pm", "conference center"
    ),
    ToolTurn("Good morning!"),
    ToolTurn("A taxi to the airport at 2 pm, please.", "book_taxi", "2 pm", "airport"),
    ToolTurn("What's the name of the wifi network?"),
    ToolTurn("Could you book a cab to the market for noon?", "book_taxi", "noon", "market"),
    ToolTurn("Does the pool open early?"),
]
