"""Portuguese: a small group, mostly from Brazil, on the forum, the mailbox and Bluesky."""

from __future__ import annotations

from communa.demo.phrases.base import Bank, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Regulagem para espresso no {grinder}", "Qual ponto de partida para espresso?"),
        openings=(
            "Acabei de receber meu {grinder} e não consigo acertar o espresso. No {setting} a extração leva 15"
            " segundos e fica azeda. Preciso moer bem mais fino?",
            "Que moagem vocês usam para espresso no {grinder}? Estou no {setting} com {grams} g e a máquina quase"
            " trava.",
        ),
        answers=(
            "Vai afinando aos poucos. No meu, torras médias ficam entre 8 e 12.",
            "Azedo e rápido é moagem grossa demais. Desce dois ou três números e mantém a dose em {grams} g.",
        ),
        staff_answers=(
            "Para espresso no {grinder}, recomendamos começar entre 10 e 14 em torras médias, mais fino nas"
            " claras. Mude uma coisa de cada vez: primeiro a moagem, depois a dose.",
        ),
    ),
    "filter_grind": Topic(
        titles=("Moagem para V60 no {grinder}?",),
        openings=(
            "Qual número vocês usam no V60? Estou perto do {setting}, proporção {ratio}, e a drenagem demora quase"
            " cinco minutos.",
            "Alguém faz Chemex com o {grinder}? Procuro um ponto de partida.",
        ),
        answers=(
            "Cinco minutos é demais, abre a moagem. Eu uso 24 no V60.",
            "Tenta um primeiro despejo mais lento e uma moagem mais grossa.",
        ),
        staff_answers=(
            "No V60, a maioria das pessoas fica entre 20 e 26 no {grinder}. Mire em 2:45 a 3:30 de tempo total e"
            " ajuste a partir daí.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("Balança Lumen não conecta no app",),
        openings=(
            "Minha Lumen não aparece no app Aurora Brew. Bluetooth ligado, permissões dadas. O que falta?",
            "A balança desconecta do celular no meio de cada preparo. Acontece com vocês?",
        ),
        answers=(
            "Aconteceu comigo! Segura o botão do timer por cinco segundos até a luz piscar.",
            "No Android o app também precisa da permissão de localização para achar o Bluetooth.",
        ),
        staff_answers=(
            "Segure o botão do timer por 5 segundos para colocar a Lumen em modo de pareamento e atualize a lista"
            " no app. O firmware {version} também corrige as desconexões.",
        ),
    ),
}

BANK = Bank(
    language="pt",
    greetings=("Olá, pessoal!", "Oi,", "Bom dia,", ""),
    sign_offs=("Valeu!", "Obrigado desde já!", "", "Alguma dica?"),
    answer_openers=("", "Aconteceu o mesmo comigo.", "Tenta assim:", "Oi, {name},"),
    thanks=("Era isso, muito obrigado!", "Funcionou, valeu {name}.", "Obrigada, agora deu certo."),
    still_stuck=("Tentei, continua igual.", "Nada ainda, mais alguma ideia?"),
    me_too=("Mesmo problema aqui.", "Acompanhando, tenho exatamente o mesmo problema."),
    questions=QUESTIONS,
    complaints={},
    praise=(
        "Seis meses com o {grinder} e ainda sorrio toda manhã. Melhor compra do ano.",
        "Parabéns ao suporte: mós novas chegaram em dois dias, sem burocracia.",
        "Lumen com o app acabou com o chute. Meu V60 finalmente ficou consistente.",
    ),
    praise_replies=("Concordo totalmente!", "Que bom que está gostando!", "Bem-vindo ao clube ☕"),
    feature_requests=(),
    plus_ones=("+1", "Sim, por favor!"),
    chatter=("Bom dia, pessoal ☕ o que tem na xícara hoje?", "Que água vocês usam? Aqui é muito dura."),
    chatter_replies=("Um Quênia, bem frutado.", "Jarra com filtro e um pouco de água mineral.", "Só um espresso hoje."),
    announcements={},
    announcement_replies=("Ótima notícia!", "Finalmente, obrigado!"),
    email_greetings=("Olá,", "Bom dia,", "Prezada equipe de suporte,"),
    email_sign_offs=("Abraços,\n{name}", "Obrigado,\n{name}", "Atenciosamente,\n{name}"),
    staff_greeting="Olá, {name},",
    staff_sign_off="Um abraço,\n{staff}\nSuporte Aurora",
)
