"""English: the community's common language, and the only complete set of announcements."""

from __future__ import annotations

from communa.demo.phrases.base import Announcement, Bank, Script, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Dialing in espresso on the {grinder}", "Where do you start for espresso on the {grinder}?"),
        openings=(
            "Just got my {grinder} and I'm struggling with espresso. At setting {setting} my shots run in 15 seconds"
            " and taste sour. Should I go much finer?",
            "What setting do you use for espresso on the {grinder}? I'm at {setting} with {grams} g in and it"
            " chokes the machine.",
            "New to espresso. The {grinder} goes from 0 to 40, which range is realistic for a medium roast?",
        ),
        answers=(
            "Go finer in small steps. On mine medium roasts land between 8 and 12, and I purge a couple of grams"
            " after every big change.",
            "Sour and fast means too coarse. Drop two or three numbers and keep the dose fixed at {grams} g until"
            " the time is around 28 seconds.",
            "Don't trust the numbers across machines, zero points differ. Find the point where the burrs just touch"
            " and count up from there.",
        ),
        staff_answers=(
            "A good starting point for espresso on the {grinder} is 10 to 14 for medium roasts, finer for light"
            " ones. Change one thing at a time: grind first, then dose. Our dial-in guide in the Help Centre has a"
            " printable table.",
            "Every {grinder} is calibrated at the factory, but zero can shift a little after shipping. If nothing"
            " below {setting} changes the shot, write to support and we'll walk you through a recalibration.",
        ),
    ),
    "filter_grind": Topic(
        titles=("V60 grind size on the {grinder}?", "Pour-over setting that actually works"),
        openings=(
            "Which setting do you use for V60? I'm around {setting} with a {ratio} ratio and the drawdown takes"
            " almost five minutes.",
            "My pour-overs taste flat and a bit bitter. {grams} g of coffee, {ratio}, water at {temp}°C."
            " Is the grind the problem?",
            "Anyone brewing Chemex with the {grinder}? Looking for a starting point.",
        ),
        answers=(
            "Five minutes is way too long, go coarser. I'm at 24 for V60 and about 28 for Chemex.",
            "Bitter and flat usually means too fine or too long. Open it up by four clicks and see if the"
            " drawdown ends near three minutes.",
            "Try a slower first pour and a coarser grind. And check your paper, some filters choke no matter what.",
        ),
        staff_answers=(
            "For V60 most people land between 20 and 26 on the {grinder}. Aim for a total brew time of 2:45 to"
            " 3:30 and adjust from there.",
            "Thanks for sharing the details! With a {ratio} ratio try a few numbers coarser and keep the water"
            " just off the boil. Our pour-over guide has a recipe that works well as a baseline.",
        ),
    ),
    "retention": Topic(
        titles=("Retention on the {grinder}: how much is normal?", "Static and chaff everywhere"),
        openings=(
            "I weigh {grams} g in and get about 0.8 g less out. Is that normal retention for the {grinder}?",
            "Grounds stick to the chute and fly all over the counter. Any tricks against static?",
            "Is it worth buying the bellows for the {grinder} or is that a gimmick?",
        ),
        answers=(
            "A drop of water on the beans before grinding (RDT) fixed static for me completely.",
            "0.8 g is a bit high. Tap the chute and use the bellows, I'm down to 0.1 g.",
            "The bellows are worth it if you single dose. If you switch beans every day, absolutely.",
        ),
        staff_answers=(
            "Retention should be under 0.3 g with the bellows. If you see more, check that the chute is clean;"
            " oily roasts build up there quickly.",
            "Static depends a lot on humidity. A light spritz of water on the beans is safe for the burrs and"
            " is what we recommend.",
        ),
    ),
    "kettle": Topic(
        titles=("Arco kettle temperature seems off", "Arco hold mode question"),
        openings=(
            "My Arco shows {temp}°C but my thermometer says four degrees less. Is there a way to calibrate it?",
            "How long does the hold mode on the Arco keep the water hot? Mine switches off after a while.",
            "Does the Arco have to be emptied after every use or can I leave water in it?",
        ),
        answers=(
            "Mine was off by two degrees too, but the reading is at the base, not at the spout. Stir before you"
            " measure.",
            "Hold mode lasts 60 minutes, then it turns off on purpose. You can change it in the app.",
            "I leave water in it overnight and descale once a month, no problems so far.",
        ),
        staff_answers=(
            "The Arco measures at the base, so the water in the spout can be a couple of degrees cooler. You can"
            " add an offset under Settings > Calibration if you prefer to match your thermometer.",
            "Hold mode keeps the temperature for 60 minutes by default; the app lets you raise it to 3 hours."
            " Please descale every 4 to 6 weeks if your water is hard.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("Lumen scale won't pair with the app", "Bluetooth problems with the Lumen"),
        openings=(
            "My Lumen scale doesn't show up in the Aurora Brew app. Bluetooth is on, the app has permissions."
            " What am I missing?",
            "The scale disconnects from my phone halfway through every brew. Anyone else?",
            "Can one Lumen scale be paired with two phones? My partner and I both use it.",
        ),
        answers=(
            "Had the same! Hold the timer button for five seconds until the light blinks, then it shows up.",
            "On Android the app also needs location permission to see Bluetooth devices, weird but true.",
            "It pairs with one phone at a time. Forget it on one phone and it connects to the other.",
        ),
        staff_answers=(
            "Please hold the timer button for 5 seconds to put the Lumen in pairing mode, then pull to refresh"
            " in the app. If it still doesn't appear, tell us your phone model and we'll look into it.",
            "Disconnects mid-brew are usually fixed by firmware {version}. You can update from the app under"
            " Devices > Lumen > Firmware.",
        ),
    ),
    "firmware": Topic(
        titles=("Firmware update stuck at 60%", "Lumen firmware {version}: update failed"),
        openings=(
            "Tried to update my Lumen to {version} and it's been stuck at 60% for twenty minutes. Can I turn it"
            " off or will I brick it?",
            "After the firmware update the scale shows only dashes. Help!",
            "Is firmware {version} worth installing? Read mixed things about it.",
        ),
        answers=(
            "Mine did the same. I kept the phone right next to the scale and restarted the update, second try worked.",
            "Dashes means it's in recovery mode. Open the app and it offers to finish the update.",
            "{version} fixed the drift in the timer for me, I'd install it.",
        ),
        staff_answers=(
            "You can't brick it: the Lumen keeps the old firmware until the new one is verified. Turn it off,"
            " turn it on while holding tare, and restart the update from the app.",
            "Thanks for reporting this. A small number of updates to {version} stall when the phone goes to"
            " sleep. Keep the app open during the update; a fix is on the way.",
        ),
    ),
    "cleaning": Topic(
        titles=("How often do you clean the burrs?", "Cleaning the {grinder} without breaking anything"),
        openings=(
            "How often do you take the burrs out for cleaning? I grind about {grams} g a day.",
            "Is it safe to use grinder cleaning tablets in the {grinder}?",
            "I opened the {grinder} to clean it and now I can't get back to zero. What did I do wrong?",
        ),
        answers=(
            "Every couple of months for me, with a brush and a vacuum. Never water.",
            "Tablets are fine, just grind a few grams of old beans after them.",
            "You probably reseated the burr carrier one notch off. Loosen it, turn until it clicks and try again.",
        ),
        staff_answers=(
            "We recommend a full burr cleaning every 2 to 3 months with normal use. Grinder tablets are safe on"
            " the {grinder}; run 10 g of beans afterwards.",
            "After reassembly, turn the dial to the finest setting until you hear the burrs touch, then set that"
            " as zero in the calibration menu. There's a short video in the Help Centre.",
        ),
    ),
    "warranty": Topic(
        titles=("Warranty registration question", "Replacement part for my {grinder}"),
        openings=(
            "I bought my {grinder} from a shop, not from your website. Is the warranty still valid?",
            "The lid of my hopper cracked. Where can I order a replacement?",
            "Do I need to register the product to get the two-year warranty?",
        ),
        answers=(
            "Warranty is the same wherever you buy it, keep the receipt. Mine was handled in a week.",
            "Spare parts are in the online shop under Accessories, the lid is cheap.",
            "I never registered mine and support still helped, but registering is quicker.",
        ),
        staff_answers=(
            "The warranty covers every {grinder} bought from an authorized retailer, two years in the EU and one"
            " year elsewhere. Registration is optional but speeds things up.",
            "Sorry about the lid! Send us your order number and a photo and we'll ship a replacement free of charge.",
        ),
    ),
    "vela2": Topic(
        titles=("Vela 2 vs Vela: worth the upgrade?", "Vela 2 pre-order question"),
        openings=(
            "Is the Vela 2 worth upgrading from the original Vela if I mostly brew filter?",
            "I pre-ordered the Vela 2 on launch day. Any news on when the first wave ships?",
            "Do the Vela 2 burrs fit the old Vela? I'd rather upgrade the burrs than the whole grinder.",
        ),
        answers=(
            "If you brew filter only, the stepless dial is the big change. For me it was worth it.",
            "The first wave started shipping last week, I got my tracking number yesterday.",
            "No, the burr carrier is different. I asked the same thing on Matrix.",
        ),
        staff_answers=(
            "The Vela 2 has stepless adjustment, lower retention and a quieter motor. The burrs don't fit the"
            " original Vela, but the original keeps getting firmware and parts support.",
            "First-wave pre-orders ship in the order they were placed; you'll get a tracking email as soon as"
            " yours leaves the warehouse.",
        ),
    ),
}

COMPLAINTS = {
    "burrs": Topic(
        titles=("Scraping noise from new burrs", "Uneven grind after a week: batch {batch}?"),
        openings=(
            "My {grinder} makes a scraping noise since day one and the grind is all over the place, boulders and"
            " dust. The burr box says batch {batch}. Not what I expect for this price.",
            "Anyone else with batch {batch} burrs? Mine chirp at fine settings and espresso is impossible to dial in.",
            "Second grinder, same problem: metal squeal when grinding and uneven particles. Is this a known defect?",
        ),
        answers=(
            "Same here, batch {batch}. Support is sending me new burrs.",
            "Check the box: if it says {batch}, write to support with a photo, they replace them.",
            "Mine were {batch} too, the replacement set is dead quiet.",
        ),
        staff_answers=(
            "We're very sorry. A part of the {batch} burr batch left the factory with a machining defect. We will"
            " send you a new burr set free of charge, and a prepaid label for the old one. Please reply with your"
            " serial number.",
            "Thank you for reporting this and sorry for the trouble. Your replacement burrs are on their way;"
            " you'll get tracking within 48 hours.",
        ),
    ),
    "shipping": Topic(
        titles=("Order still not delivered", "Where is my order {order}?"),
        openings=(
            "My order {order} was placed {days} days ago and the tracking hasn't moved in a week. What's going on?",
            "Still waiting for my kettle after {days} days. Nobody answers my emails.",
            "The tracking for {order} says 'held at customs'. Do I need to do something?",
        ),
        answers=(
            "Mine was stuck at customs for ten days too, then it arrived with no extra fees.",
            "Same, the carrier is slow this month. It did show up eventually.",
            "Call the carrier directly, they released mine the next day.",
        ),
        staff_answers=(
            "Sorry for the wait. Our carrier has delays at customs this month. Your order {order} is in transit;"
            " if it hasn't arrived in 5 working days we'll send a new one.",
            "Thanks for your patience. I checked {order}: it cleared customs today and should be with you"
            " within three days.",
        ),
    ),
    "outage": Topic(
        titles=("App not syncing?", "Aurora Brew app down?"),
        openings=(
            "Is the Aurora Brew app down? My brew logs aren't syncing and the recipes page is empty.",
            "App keeps saying 'cannot reach server'. Lost this morning's brew log.",
            "Login to the app fails for me since this morning. Anyone else?",
        ),
        answers=(
            "Same here, nothing syncs since this morning.",
            "Down for me too. The scale still works offline at least.",
            "Yep, broken here as well. Logs are saved locally, they'll sync later.",
        ),
        staff_answers=(
            "We're aware of the sync problem and working on it. Your logs are stored on the phone and will"
            " sync once the service is back. Sorry for the disruption.",
            "Sync is back! Logs saved during the outage are uploading now. Thanks for bearing with us.",
        ),
    ),
}

FEATURE_REQUESTS = (
    Topic(
        titles=("Feature request: export brew logs to CSV",),
        openings=(
            "Would love to export my brew logs to CSV so I can play with the data in a spreadsheet.",
            "Please let us export the logs, even a plain CSV would do.",
        ),
        answers=("+1, I'd use it every week.", "Yes please, I copy numbers by hand right now."),
        staff_answers=("Thanks, this is on our list for the next app release. We'll post here when it's in beta.",),
    ),
    Topic(
        titles=("Dark mode for the app?",),
        openings=("Any plans for a dark mode in Aurora Brew? The white screen at 6 am is brutal.",),
        answers=("Please! My eyes at dawn would thank you.", "Big yes from me."),
        staff_answers=("Dark mode is being designed right now. Beta testers wanted, reply here if interested!",),
    ),
    Topic(
        titles=("Fahrenheit on the Arco display", "Idea: recipe sharing between users"),
        openings=(
            "Could the Arco show Fahrenheit? I'm in the US and keep converting in my head.",
            "It would be great to share recipes with a link, like a playlist.",
        ),
        answers=("Agreed, this would be great.", "Same request here, would be very handy."),
        staff_answers=("Good idea, I've passed it on to the product team.",),
    ),
)

ANNOUNCEMENTS = {
    "launch": Announcement(
        "Introducing the Vela 2",
        "Today we're launching the Vela 2: stepless grind adjustment, a 64 mm burr set with lower retention, a"
        " quieter motor and a single-dose hopper. Pre-orders open now; the first wave ships in three weeks."
        " Questions welcome in this thread!",
        (
            "Exciting! Just pre-ordered.",
            "Any discount for existing owners?",
            "Will it come in white?",
            "Finally a stepless Vela, take my money.",
            "Is the hopper compatible with the old one?",
        ),
    ),
    "recall": Announcement(
        "Burr batch {batch}: free replacement",
        "Some {grinder} burr sets from batch {batch} have a machining defect that causes noise and uneven grind."
        " If your burr box says {batch}, contact support with your serial number and we'll send a new set and a"
        " prepaid return label. We're sorry for the trouble.",
        (
            "Thanks for owning it.",
            "Mine says {batch}, just wrote to support.",
            "Took you long enough.",
            "Is batch 24-A affected too?",
        ),
    ),
    "firmware": Announcement(
        "Lumen firmware {version} is out",
        "Lumen firmware {version} fixes Bluetooth disconnects during long brews, improves timer accuracy and"
        " adds auto-tare. Update from the Aurora Brew app under Devices.",
        ("Updating tonight.", "Auto-tare, finally!", "Updated, the timer feels snappier."),
    ),
    "outage_resolved": Announcement(
        "App sync incident: resolved",
        "Between 06:10 and 14:30 UTC today the Aurora Brew sync service was unavailable after a failed database"
        " upgrade. No brew logs were lost: everything saved on your phone has now synced. Sorry for the"
        " disruption.",
        (
            "Thanks for the quick fix and the explanation.",
            "All my logs are back, thanks.",
            "Happens, thanks for the update.",
        ),
    ),
    "shipping_update": Announcement(
        "Shipping update: customs delays",
        "Some orders to the EU and the UK are held at customs longer than usual. No action is needed on your"
        " side; if your order is more than 10 days late, write to us and we'll sort it out.",
        ("Good to know, mine is stuck in Milan.", "Thanks, that explains it.", "Mine arrived today after 12 days."),
    ),
    "contest": Announcement(
        "Latte art contest: this month's theme is 'autumn'",
        "Post a photo of your best latte art in this thread by the end of the month. Three winners get a Lumen"
        " scale. Be kind to each other's swans!",
        ("My swans look like ducks but I'm in.", "Count me in!", "Love this, posting mine tonight."),
    ),
}

BANK = Bank(
    language="en",
    greetings=("Hi all,", "Hey everyone!", "Hi,", "Quick question:", "", "", "Hello,"),
    sign_offs=("Thanks in advance!", "Any tips appreciated.", "Thanks!", "", "Cheers.", "What am I doing wrong?"),
    answer_openers=("", "", "Had the same thing.", "Try this:", "Hey {name},", "From my experience:", "Easy fix:"),
    thanks=(
        "That was it, thank you!",
        "Worked perfectly, thanks {name}.",
        "Thanks, all good now.",
        "You saved my morning coffee, thanks!",
        "Tried it and it's fixed. Thank you!",
    ),
    still_stuck=(
        "Tried that, still the same unfortunately.",
        "No luck so far, any other ideas?",
        "Did all of that, still not working.",
    ),
    me_too=("Same problem here.", "Following, I have exactly the same issue.", "+1, seeing this too."),
    questions=QUESTIONS,
    complaints=COMPLAINTS,
    praise=(
        "Six months with the {grinder} and I still smile every morning. Best purchase of the year.",
        "Shout-out to the support team: new burrs arrived in two days, no questions asked.",
        "The Arco is so much better than my old kettle. The hold mode alone is worth it.",
        "Finally dialed in my light roasts at {setting} and they taste like fruit juice. Love this grinder.",
        "Lumen + the app = no more guessing. My V60 is consistent for the first time.",
        "Honestly the nicest coffee community I've been part of. Thanks all for the tips.",
    ),
    praise_replies=("Totally agree!", "Glad you're enjoying it!", "Same experience here.", "Welcome to the club ☕"),
    feature_requests=FEATURE_REQUESTS,
    plus_ones=("+1", "+1, would love this", "Yes please!", "Another vote for this."),
    chatter=(
        "Morning all ☕ what's in your cup today?",
        "Trying a natural Ethiopian today, it smells like blueberries.",
        "Anyone tried the new decaf from the roastery down the road?",
        "Weekend project: cold brew at {ratio}. Will report back.",
        "What water do you use? Tap here is super hard.",
        "My cat just knocked the dosing cup off the counter. Coffee everywhere.",
    ),
    chatter_replies=(
        "Kenyan AA, bright and juicy.",
        "Nice! Let us know how it turns out.",
        "Same, I use a filter jug and add a bit of mineral water.",
        "Ha, classic.",
        "Just a boring espresso today, still good.",
        "Sounds great, which roaster?",
    ),
    announcements=ANNOUNCEMENTS,
    announcement_replies=("Thanks for the update!", "Great news.", "Thanks for letting us know.", "👏"),
    email_greetings=("Hello Aurora team,", "Hi,", "Dear support,", "Good morning,"),
    email_sign_offs=("Best regards,\n{name}", "Thanks,\n{name}", "Kind regards,\n{name}"),
    staff_greeting="Hi {name},",
    staff_sign_off="Best regards,\n{staff}\nAurora Support",
    spam=(
        "Best prices on espresso machines!!! Up to 80% off, only today: http://cheap-espresso-deals.example/promo",
        "Earn $500 a day from home, no experience needed. DM me or visit http://fast-money.example",
        "Buy followers and likes for your coffee shop, cheap and fast: http://growth-hacks.example",
    ),
    heated=(
        Script(
            "Burr batch {batch}: this is how you treat customers?",
            (
                "Honestly the way {batch} is being handled is a joke. Three weeks and still no burrs.",
                "Mine arrived in four days. Maybe check your spam folder before shouting.",
                "Oh great, another fanboy. Not everyone got lucky.",
                "I'm not a fanboy, I'm just tired of people ranting without giving support a chance.",
                "Nobody asked you. Go polish your grinder.",
                "You're clearly an idiot if you think a defective batch is 'no big deal'.",
            ),
        ),
    ),
    moderator_notes=(
        "Let's keep it civil, please. Disagree with ideas, not with people. Further insults will get posts removed.",
        "Locking this for a cool-down. Please re-read the community guidelines before posting again.",
    ),
    insults=(
        "What a stupid question, read the manual.",
        "Are you really this dumb?",
        "Nobody cares about your opinion, loser.",
    ),
)
# The one identity attack in the demo (deliberately mild: test data for moderators), and how others react.
IDENTITY_ATTACK = "Of course a woman wouldn't get grind settings. Leave the gear talk to the guys."
PUSHBACK = (
    "Not cool. Her question was perfectly reasonable.",
    "Wow. That's not okay here.",
    "Ignore that. Your grind is probably just a bit coarse, try four clicks finer.",
)
