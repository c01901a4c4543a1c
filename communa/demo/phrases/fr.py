"""French: a small group, mostly on the forum and in the mailbox."""

from __future__ import annotations

from communa.demo.phrases.base import Bank, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Réglage espresso sur le {grinder}", "Par quel cran commencer pour l'espresso ?"),
        openings=(
            "Je viens de recevoir mon {grinder} et je galère avec l'espresso. Au cran {setting}, l'extraction dure"
            " 15 secondes et c'est acide. Je dois moudre beaucoup plus fin ?",
            "Quelle mouture utilisez-vous pour l'espresso sur le {grinder} ? Je suis à {setting} avec {grams} g et"
            " la machine n'arrive presque plus à extraire.",
        ),
        answers=(
            "Affine petit à petit. Avec le mien, les torréfactions moyennes tombent entre 8 et 12.",
            "Acide et rapide, c'est trop gros. Descends de deux ou trois crans en gardant {grams} g de dose.",
        ),
        staff_answers=(
            "Pour l'espresso sur le {grinder}, nous conseillons de commencer entre 10 et 14 pour une torréfaction"
            " moyenne, plus fin pour une claire. Changez un seul paramètre à la fois : d'abord la mouture, puis"
            " la dose.",
        ),
    ),
    "filter_grind": Topic(
        titles=("Mouture pour V60 sur le {grinder} ?",),
        openings=(
            "Quel cran pour le V60 ? Je suis vers {setting} avec un ratio de {ratio} et l'écoulement prend presque"
            " cinq minutes.",
            "Quelqu'un fait de la Chemex avec le {grinder} ? Je cherche un point de départ.",
        ),
        answers=(
            "Cinq minutes, c'est beaucoup trop : ouvre la mouture. Moi je suis à 24 pour le V60.",
            "Essaie un premier versement plus lent et une mouture plus grossière.",
        ),
        staff_answers=(
            "Pour le V60, la plupart des gens sont entre 20 et 26 sur le {grinder}. Visez un temps total de 2:45"
            " à 3:30 et ajustez à partir de là.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("La balance Lumen ne se connecte pas à l'appli",),
        openings=(
            "Ma Lumen n'apparaît pas dans l'appli Aurora Brew. Bluetooth activé, autorisations données. Une idée ?",
            "La balance se déconnecte du téléphone au milieu de chaque préparation. C'est normal ?",
        ),
        answers=(
            "Pareil pour moi ! Maintiens le bouton du minuteur cinq secondes jusqu'à ce que le voyant clignote.",
            "Sur Android, l'appli demande aussi la localisation pour voir les appareils Bluetooth.",
        ),
        staff_answers=(
            "Maintenez le bouton du minuteur 5 secondes pour passer la Lumen en mode appairage, puis actualisez"
            " la liste dans l'appli. Le firmware {version} corrige aussi les déconnexions.",
        ),
    ),
}

BANK = Bank(
    language="fr",
    greetings=("Bonjour à tous,", "Salut !", "Bonjour,", ""),
    sign_offs=("Merci d'avance !", "Merci !", "", "Des conseils ?"),
    answer_openers=("", "Même souci chez moi.", "Essaie ça :", "Salut {name},"),
    thanks=("C'était ça, merci beaucoup !", "Ça marche, merci {name}.", "Merci, tout est réglé."),
    still_stuck=("J'ai essayé, toujours pareil.", "Pas mieux, d'autres idées ?"),
    me_too=("Même problème ici.", "Je suis le fil, j'ai exactement le même souci."),
    questions=QUESTIONS,
    complaints={},
    praise=(
        "Six mois avec le {grinder} et toujours le sourire chaque matin. Meilleur achat de l'année.",
        "Bravo au service client : nouvelles meules reçues en deux jours.",
        "La Lumen avec l'appli, fini le pifomètre. Mon V60 est enfin régulier.",
    ),
    praise_replies=("Tout à fait d'accord !", "Ravi que ça te plaise !", "Bienvenue au club ☕"),
    feature_requests=(),
    plus_ones=("+1", "Oui, s'il vous plaît !"),
    chatter=("Bonjour à tous ☕ qu'y a-t-il dans vos tasses aujourd'hui ?", "Quelle eau utilisez-vous ?"),
    chatter_replies=("Un Kenya, bien fruité.", "Une carafe filtrante, rien de plus.", "Un espresso tout simple."),
    announcements={},
    announcement_replies=("Super nouvelle !", "Enfin, merci !"),
    email_greetings=("Bonjour,", "Madame, Monsieur,"),
    email_sign_offs=("Cordialement,\n{name}", "Merci,\n{name}"),
    staff_greeting="Bonjour {name},",
    staff_sign_off="Bien cordialement,\n{staff}\nService client Aurora",
)
