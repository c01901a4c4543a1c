"""German: a small group on the forum, Matrix and IRC."""

from __future__ import annotations

from communa.demo.phrases.base import Bank, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Espresso-Einstellung an der {grinder}", "Mit welcher Stufe fangt ihr für Espresso an?"),
        openings=(
            "Habe gerade meine {grinder} bekommen und kriege den Espresso nicht hin. Auf Stufe {setting} läuft der"
            " Bezug in 15 Sekunden durch und schmeckt sauer. Muss ich viel feiner mahlen?",
            "Welche Stufe nutzt ihr für Espresso an der {grinder}? Ich bin bei {setting} mit {grams} g und die"
            " Maschine würgt fast ab.",
        ),
        answers=(
            "Geh in kleinen Schritten feiner. Bei mir landen mittlere Röstungen zwischen 8 und 12.",
            "Sauer und schnell heißt zu grob. Zwei, drei Stufen runter und die Dosis bei {grams} g lassen.",
        ),
        staff_answers=(
            "Für Espresso an der {grinder} empfehlen wir 10 bis 14 als Startpunkt für mittlere Röstungen, feiner"
            " für helle. Ändert immer nur eine Sache: erst den Mahlgrad, dann die Dosis.",
        ),
    ),
    "filter_grind": Topic(
        titles=("Mahlgrad für V60 an der {grinder}?",),
        openings=(
            "Welche Stufe nehmt ihr für V60? Ich bin bei etwa {setting}, Verhältnis {ratio}, und der Durchlauf"
            " dauert fast fünf Minuten.",
            "Macht jemand Chemex mit der {grinder}? Suche einen Startpunkt.",
        ),
        answers=(
            "Fünf Minuten sind viel zu lang, mahl gröber. Ich bin bei 24 für V60.",
            "Probier einen langsameren ersten Aufguss und einen gröberen Mahlgrad.",
        ),
        staff_answers=(
            "Für V60 liegen die meisten zwischen 20 und 26 an der {grinder}. Ziel ist eine Gesamtzeit von 2:45"
            " bis 3:30, von da aus nachjustieren.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("Lumen-Waage verbindet sich nicht mit der App",),
        openings=(
            "Meine Lumen taucht in der Aurora-Brew-App nicht auf. Bluetooth ist an, Berechtigungen erteilt."
            " Was übersehe ich?",
            "Die Waage trennt mitten im Brühen die Verbindung zum Handy. Kennt das jemand?",
        ),
        answers=(
            "Hatte ich auch! Die Timer-Taste fünf Sekunden gedrückt halten, bis das Licht blinkt.",
            "Unter Android braucht die App auch die Standortberechtigung, um Bluetooth-Geräte zu sehen.",
        ),
        staff_answers=(
            "Haltet die Timer-Taste 5 Sekunden gedrückt, um die Lumen in den Kopplungsmodus zu bringen, und"
            " aktualisiert dann die Liste in der App. Firmware {version} behebt außerdem die Abbrüche.",
        ),
    ),
}

BANK = Bank(
    language="de",
    greetings=("Hallo zusammen,", "Hi,", "Moin!", ""),
    sign_offs=("Danke im Voraus!", "Danke!", "", "Was mache ich falsch?"),
    answer_openers=("", "Hatte ich auch.", "Probier mal:", "Hi {name},"),
    thanks=("Das war's, vielen Dank!", "Klappt, danke {name}.", "Danke, jetzt passt alles."),
    still_stuck=("Probiert, leider immer noch gleich.", "Hat nicht geholfen, noch Ideen?"),
    me_too=("Gleiches Problem hier.", "Ich lese mit, habe genau dasselbe."),
    questions=QUESTIONS,
    complaints={},
    praise=(
        "Ein halbes Jahr mit der {grinder} und ich freue mich jeden Morgen. Bester Kauf des Jahres.",
        "Großes Lob an den Support: neue Mahlscheiben in zwei Tagen, ohne Diskussion.",
        "Der Arco ist kein Vergleich zu meinem alten Wasserkocher.",
    ),
    praise_replies=("Volle Zustimmung!", "Freut mich!", "Willkommen im Club ☕"),
    feature_requests=(),
    plus_ones=("+1", "Ja, bitte!"),
    chatter=("Moin zusammen ☕ was gibt's heute in der Tasse?", "Welches Wasser nehmt ihr? Unseres ist steinhart."),
    chatter_replies=(
        "Einen Kenia, schön fruchtig.",
        "Wasserfilter und etwas Mineralwasser.",
        "Nur ein Espresso heute.",
    ),
    announcements={},
    announcement_replies=("Tolle Neuigkeiten!", "Endlich, danke!"),
    email_greetings=("Hallo,", "Sehr geehrtes Support-Team,", "Guten Tag,"),
    email_sign_offs=("Viele Grüße,\n{name}", "Danke,\n{name}", "Beste Grüße,\n{name}"),
    staff_greeting="Hallo {name},",
    staff_sign_off="Viele Grüße,\n{staff}\nAurora Support",
)
