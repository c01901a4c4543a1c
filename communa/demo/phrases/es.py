"""Spanish: Spain and Latin America, on the forum, the mailbox and Bluesky."""

from __future__ import annotations

from communa.demo.phrases.base import Announcement, Bank, Script, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Ajustar el espresso con el {grinder}", "¿Desde qué número empezáis para espresso?"),
        openings=(
            "Me acaba de llegar el {grinder} y no consigo sacar un buen espresso. En {setting} la extracción dura"
            " 15 segundos y sale ácida. ¿Tengo que afinar mucho más?",
            "¿Qué molienda usáis para espresso en el {grinder}? Estoy en {setting} con {grams} g y la cafetera casi"
            " no deja pasar el agua.",
            "Soy nuevo con el espresso. Para un tueste medio, ¿en qué rango debería moverme?",
        ),
        answers=(
            "Afina poco a poco. Con el mío los tuestes medios quedan entre 8 y 12, y después de cada cambio grande"
            " tiro un par de gramos.",
            "Ácido y rápido es molienda demasiado gruesa. Baja dos o tres números y deja la dosis fija en {grams} g"
            " hasta llegar a unos 28 segundos.",
            "No te fíes de los números de otros, el cero cambia de un molino a otro. Busca el punto donde las"
            " muelas se tocan y cuenta desde ahí.",
        ),
        staff_answers=(
            "Para espresso en el {grinder} recomendamos empezar entre 10 y 14 con tuestes medios, más fino con"
            " tuestes claros. Cambia una cosa cada vez: primero la molienda, luego la dosis. En el Centro de ayuda"
            " tienes nuestra guía con una tabla para imprimir.",
            "Cada {grinder} se calibra en fábrica, pero el cero puede moverse un poco con el envío. Si por debajo"
            " de {setting} no cambia nada, escríbenos y te ayudamos a recalibrarlo.",
        ),
    ),
    "filter_grind": Topic(
        titles=("¿Molienda para V60 en el {grinder}?", "Filtrado: ¿qué ajuste os funciona?"),
        openings=(
            "¿Qué número usáis para V60? Estoy en torno a {setting} con ratio {ratio} y el agua tarda casi cinco"
            " minutos en bajar.",
            "Mis filtrados salen planos y un poco amargos. {grams} g de café, {ratio}, agua a {temp} °C."
            " ¿Es la molienda?",
            "¿Alguien hace Chemex con el {grinder}? Busco un punto de partida.",
        ),
        answers=(
            "Cinco minutos es muchísimo, abre la molienda. Yo para V60 estoy en 24 y para Chemex en 28.",
            "Amargo y plano suele ser demasiado fino. Abre cuatro clics y mira si terminas cerca de los tres minutos.",
            "Prueba un primer vertido más lento y una molienda más gruesa. Y revisa los filtros, algunos se"
            " atascan sí o sí.",
        ),
        staff_answers=(
            "Para V60 la mayoría de la gente está entre 20 y 26 en el {grinder}. Apunta a un tiempo total de"
            " 2:45 a 3:30 y ajusta desde ahí.",
            "¡Gracias por los detalles! Con ratio {ratio} prueba unos números más grueso y el agua justo por"
            " debajo del hervor. Nuestra guía de filtrado tiene una receta base que funciona muy bien.",
        ),
    ),
    "retention": Topic(
        titles=("Retención del {grinder}: ¿cuánto es normal?", "Estática y café por toda la encimera"),
        openings=(
            "Peso {grams} g al entrar y salen unos 0,8 g menos. ¿Es normal esa retención en el {grinder}?",
            "El café molido se pega a la salida y vuela por toda la encimera. ¿Algún truco contra la estática?",
            "¿Merece la pena el fuelle para el {grinder} o es puro marketing?",
        ),
        answers=(
            "Una gota de agua en los granos antes de moler (RDT) y se acabó la estática.",
            "0,8 g es bastante. Da unos golpecitos a la salida y usa el fuelle, yo estoy en 0,1 g.",
            "El fuelle merece la pena si mueles dosis sueltas. Si cambias de café cada día, sin duda.",
        ),
        staff_answers=(
            "Con el fuelle la retención debería quedar por debajo de 0,3 g. Si es más, revisa que la salida esté"
            " limpia: los tuestes oscuros la ensucian rápido.",
            "La estática depende mucho de la humedad. Rociar un poco de agua sobre los granos no daña las muelas"
            " y es lo que recomendamos.",
        ),
    ),
    "kettle": Topic(
        titles=("La temperatura del hervidor Arco no cuadra", "Duda sobre el modo mantener del Arco"),
        openings=(
            "Mi Arco marca {temp} °C pero el termómetro dice cuatro grados menos. ¿Se puede calibrar?",
            "¿Cuánto tiempo mantiene el Arco el agua caliente? El mío se apaga al rato.",
            "¿Hay que vaciar el Arco después de cada uso o puedo dejar el agua dentro?",
        ),
        answers=(
            "El mío también fallaba por dos grados, pero mide en la base, no en el pico. Remueve antes de medir.",
            "El modo mantener dura 60 minutos y se apaga a propósito. En la app puedes alargarlo.",
            "Yo dejo el agua por la noche y lo descalcifico una vez al mes, sin problemas.",
        ),
        staff_answers=(
            "El Arco mide en la base, así que el agua del pico puede estar un par de grados más fría. Si quieres,"
            " en Ajustes > Calibración puedes añadir una corrección.",
            "El modo mantener dura 60 minutos por defecto; en la app puedes subirlo hasta 3 horas. Si tu agua es"
            " dura, descalcifica cada 4 a 6 semanas.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("La báscula Lumen no se conecta a la app", "Problemas de Bluetooth con la Lumen"),
        openings=(
            "Mi Lumen no aparece en la app Aurora Brew. Bluetooth activado, permisos dados. ¿Qué se me escapa?",
            "La báscula se desconecta del móvil a mitad de cada preparación. ¿A alguien más le pasa?",
            "¿Se puede vincular una Lumen a dos móviles? En casa la usamos los dos.",
        ),
        answers=(
            "¡Me pasó igual! Mantén pulsado el botón del temporizador cinco segundos hasta que parpadee la luz.",
            "En Android la app también necesita el permiso de ubicación para ver dispositivos Bluetooth, raro"
            " pero cierto.",
            "Se conecta a un móvil cada vez. Olvídala en uno y se conecta al otro.",
        ),
        staff_answers=(
            "Mantén pulsado el botón del temporizador 5 segundos para poner la Lumen en modo vinculación y"
            " actualiza la lista en la app. Si sigue sin aparecer, dinos el modelo de tu móvil y lo revisamos.",
            "Las desconexiones durante la preparación se corrigen con el firmware {version}. Puedes actualizar"
            " desde la app en Dispositivos > Lumen > Firmware.",
        ),
    ),
    "firmware": Topic(
        titles=("Actualización de firmware atascada en el 60 %", "Firmware {version} de la Lumen: falló"),
        openings=(
            "Intenté actualizar la Lumen a la {version} y lleva veinte minutos en el 60 %. ¿La puedo apagar o"
            " me la cargo?",
            "Después de actualizar, la báscula solo muestra guiones. ¡Ayuda!",
            "¿Merece la pena instalar el firmware {version}? He leído opiniones de todo tipo.",
        ),
        answers=(
            "Me pasó lo mismo. Dejé el móvil pegado a la báscula y al segundo intento funcionó.",
            "Los guiones significan que está en modo recuperación. Abre la app y te ofrece terminar la actualización.",
            "A mí la {version} me arregló el temporizador, yo la instalaría.",
        ),
        staff_answers=(
            "No se estropea: la Lumen conserva el firmware anterior hasta verificar el nuevo. Apágala, enciéndela"
            " manteniendo pulsada la tara y vuelve a lanzar la actualización desde la app.",
            "Gracias por avisar. Algunas actualizaciones a la {version} se quedan paradas si el móvil entra en"
            " reposo. Mantén la app abierta mientras actualiza; la corrección está en camino.",
        ),
    ),
    "cleaning": Topic(
        titles=("¿Cada cuánto limpiáis las muelas?", "Limpiar el {grinder} sin romper nada"),
        openings=(
            "¿Cada cuánto desmontáis las muelas para limpiarlas? Muelo unos {grams} g al día.",
            "¿Se pueden usar pastillas de limpieza en el {grinder}?",
            "Abrí el {grinder} para limpiarlo y ahora no encuentro el cero. ¿Qué hice mal?",
        ),
        answers=(
            "Yo cada par de meses, con brocha y aspiradora. Nunca agua.",
            "Las pastillas van bien, solo muele unos gramos de café viejo después.",
            "Seguramente montaste el soporte de las muelas un clic desplazado. Afloja, gira hasta que haga clic y"
            " vuelve a probar.",
        ),
        staff_answers=(
            "Con un uso normal recomendamos una limpieza completa de las muelas cada 2 o 3 meses. Las pastillas"
            " son seguras en el {grinder}; después muele 10 g de café.",
            "Tras montarlo, gira el dial hacia fino hasta oír que las muelas se tocan y guarda ese punto como cero"
            " en el menú de calibración. En el Centro de ayuda hay un vídeo corto.",
        ),
    ),
    "warranty": Topic(
        titles=("Duda sobre la garantía", "Recambio para mi {grinder}"),
        openings=(
            "Compré el {grinder} en una tienda y no en vuestra web. ¿Tiene la misma garantía?",
            "Se ha rajado la tapa de la tolva. ¿Dónde puedo pedir una nueva?",
            "¿Hay que registrar el producto para tener los dos años de garantía?",
        ),
        answers=(
            "La garantía es la misma lo compres donde lo compres, guarda el tique. A mí me lo solucionaron en una"
            " semana.",
            "Los recambios están en la tienda online, en Accesorios. La tapa es barata.",
            "Yo nunca lo registré y me ayudaron igual, pero registrado va más rápido.",
        ),
        staff_answers=(
            "La garantía cubre cualquier {grinder} comprado en un distribuidor autorizado: dos años en la UE y uno"
            " en el resto del mundo. El registro es opcional pero agiliza el trámite.",
            "¡Sentimos lo de la tapa! Envíanos el número de pedido y una foto y te mandamos una nueva sin coste.",
        ),
    ),
    "vela2": Topic(
        titles=("Vela 2 o Vela: ¿merece la pena cambiar?", "Duda sobre la reserva del Vela 2"),
        openings=(
            "¿Compensa pasar del Vela al Vela 2 si casi siempre hago filtrado?",
            "Reservé el Vela 2 el día del lanzamiento. ¿Se sabe cuándo sale el primer envío?",
            "¿Las muelas del Vela 2 sirven en el Vela antiguo? Preferiría cambiar solo las muelas.",
        ),
        answers=(
            "Si solo haces filtrado, lo que cambia de verdad es el ajuste continuo. A mí me compensó.",
            "La primera tanda salió la semana pasada, ayer me llegó el número de seguimiento.",
            "No, el soporte de las muelas es distinto. Lo pregunté yo también en Matrix.",
        ),
        staff_answers=(
            "El Vela 2 tiene ajuste continuo, menos retención y un motor más silencioso. Sus muelas no son"
            " compatibles con el Vela original, que sigue recibiendo firmware y recambios.",
            "Las reservas de la primera tanda se envían por orden de compra; recibirás un correo con el"
            " seguimiento en cuanto tu pedido salga del almacén.",
        ),
    ),
}

COMPLAINTS = {
    "burrs": Topic(
        titles=("Ruido raro en las muelas nuevas", "Molienda irregular: ¿lote {batch}?"),
        openings=(
            "Mi {grinder} rasca desde el primer día y la molienda es un desastre, trozos grandes y polvo. En la"
            " caja de las muelas pone lote {batch}. No es lo que espero por este precio.",
            "¿Alguien más con muelas del lote {batch}? Las mías chirrían en moliendas finas y es imposible ajustar"
            " el espresso.",
            "Segundo molino y el mismo problema: chirrido metálico y partículas irregulares. ¿Es un defecto conocido?",
        ),
        answers=(
            "Igual aquí, lote {batch}. Soporte me está enviando muelas nuevas.",
            "Mira la caja: si pone {batch}, escribe a soporte con una foto y te las cambian.",
            "Las mías también eran {batch}, las nuevas no hacen nada de ruido.",
        ),
        staff_answers=(
            "Lo sentimos mucho. Parte del lote de muelas {batch} salió de fábrica con un defecto de mecanizado. Te"
            " enviamos gratis un juego nuevo y una etiqueta prepagada para devolver el antiguo. Respóndenos con"
            " el número de serie, por favor.",
            "Gracias por avisarnos y perdona las molestias. Tus muelas de repuesto ya van de camino; tendrás el"
            " seguimiento en 48 horas.",
        ),
    ),
    "shipping": Topic(
        titles=("Pedido sin entregar", "¿Dónde está mi pedido {order}?"),
        openings=(
            "Hice el pedido {order} hace {days} días y el seguimiento lleva una semana parado. ¿Qué pasa?",
            "Llevo {days} días esperando el hervidor. Nadie contesta a mis correos.",
            "El seguimiento de {order} dice 'retenido en aduanas'. ¿Tengo que hacer algo?",
        ),
        answers=(
            "El mío estuvo diez días en aduanas y luego llegó sin gastos extra.",
            "Igual, la empresa de transporte va lentísima este mes. Pero al final llega.",
            "Llama directamente a la empresa de transporte, a mí me lo liberaron al día siguiente.",
        ),
        staff_answers=(
            "Perdona la espera. Nuestro transportista tiene retrasos en aduanas este mes. Tu pedido {order} está"
            " en tránsito; si no llega en 5 días laborables te enviamos otro.",
            "Gracias por tu paciencia. He revisado {order}: hoy ha salido de aduanas y debería llegarte en tres días.",
        ),
    ),
    "outage": Topic(
        titles=("¿La app no sincroniza?", "¿Se ha caído Aurora Brew?"),
        openings=(
            "¿Está caída la app Aurora Brew? Mis registros no se sincronizan y la página de recetas sale vacía.",
            "La app dice todo el rato 'no se puede conectar con el servidor'. He perdido el registro de esta mañana.",
            "Desde esta mañana no puedo iniciar sesión en la app. ¿A alguien más le pasa?",
        ),
        answers=(
            "A mí igual, no sincroniza nada desde esta mañana.",
            "Caída para mí también. Por lo menos la báscula funciona sin conexión.",
            "Sí, aquí tampoco va. Los registros se guardan en el móvil, ya se sincronizarán.",
        ),
        staff_answers=(
            "Sabemos que hay un problema de sincronización y estamos en ello. Tus registros se guardan en el móvil"
            " y se sincronizarán cuando vuelva el servicio. Perdona las molestias.",
            "¡La sincronización ha vuelto! Los registros guardados durante la caída se están subiendo ahora."
            " Gracias por la paciencia.",
        ),
    ),
}

FEATURE_REQUESTS = (
    Topic(
        titles=("Sugerencia: exportar los registros a CSV",),
        openings=(
            "Me encantaría exportar mis registros a CSV para jugar con los datos en una hoja de cálculo.",
            "Dejadnos exportar los registros, aunque sea un CSV sencillo.",
        ),
        answers=("+1, lo usaría cada semana.", "Sí, por favor, ahora copio los números a mano."),
        staff_answers=("Gracias, está en la lista para la próxima versión de la app. Os avisamos aquí con la beta.",),
    ),
    Topic(
        titles=("¿Modo oscuro para la app?",),
        openings=("¿Hay planes de un modo oscuro en Aurora Brew? La pantalla blanca a las 6 de la mañana duele.",),
        answers=("¡Sí, por favor!", "Totalmente de acuerdo."),
        staff_answers=("El modo oscuro se está diseñando ahora mismo. ¡Buscamos testers para la beta!",),
    ),
)

ANNOUNCEMENTS = {
    "launch": Announcement(
        "Os presentamos el Vela 2",
        "Hoy lanzamos el Vela 2: ajuste de molienda continuo, muelas de 64 mm con menos retención, un motor más"
        " silencioso y tolva monodosis. Las reservas ya están abiertas; la primera tanda sale en tres semanas."
        " ¡Preguntad lo que queráis en este hilo!",
        (
            "¡Qué ganas! Acabo de reservarlo.",
            "¿Habrá descuento para los que ya tenemos el Vela?",
            "¡Por fin ajuste continuo!",
            "¿La tolva sirve en el modelo anterior?",
        ),
    ),
    "recall": Announcement(
        "Lote de muelas {batch}: cambio gratuito",
        "Algunos juegos de muelas del {grinder} del lote {batch} tienen un defecto de mecanizado que provoca"
        " ruido y molienda irregular. Si en la caja pone {batch}, escribe a soporte con el número de serie y te"
        " enviamos un juego nuevo con etiqueta de devolución prepagada. Sentimos las molestias.",
        ("Gracias por la transparencia.", "Las mías son {batch}, ya he escrito a soporte.", "Ya era hora."),
    ),
    "shipping_update": Announcement(
        "Envíos: retrasos en aduanas",
        "Algunos pedidos a la UE y al Reino Unido están retenidos en aduanas más de lo normal. No tienes que"
        " hacer nada; si tu pedido lleva más de 10 días de retraso, escríbenos y lo solucionamos.",
        ("Gracias, eso lo explica.", "El mío llegó hoy después de 12 días.", "Bueno saberlo."),
    ),
}

BANK = Bank(
    language="es",
    greetings=("¡Hola a todos!", "Hola,", "Buenas,", "Pregunta rápida:", "", "", "Buenos días,"),
    sign_offs=("¡Gracias de antemano!", "Cualquier consejo es bienvenido.", "¡Gracias!", "", "¿Qué hago mal?"),
    answer_openers=("", "", "Me pasó lo mismo.", "Prueba esto:", "Hola, {name}:", "Por experiencia:"),
    thanks=(
        "¡Era eso, muchas gracias!",
        "Funciona perfecto, gracias, {name}.",
        "Gracias, ya está todo bien.",
        "¡Me has salvado el café de la mañana, gracias!",
        "Probado y solucionado. ¡Gracias!",
    ),
    still_stuck=(
        "Lo probé y sigue igual, por desgracia.",
        "De momento nada, ¿alguna otra idea?",
        "Hice todo eso y sigue sin funcionar.",
    ),
    me_too=("Tengo el mismo problema.", "Sigo el hilo, me pasa exactamente lo mismo.", "+1, a mí también."),
    questions=QUESTIONS,
    complaints=COMPLAINTS,
    praise=(
        "Seis meses con el {grinder} y sigo sonriendo cada mañana. La mejor compra del año.",
        "Un aplauso para el equipo de soporte: muelas nuevas en dos días y sin preguntas.",
        "El Arco no tiene nada que ver con mi hervidor de antes. Solo el modo mantener ya lo vale.",
        "Por fin tengo los tuestes claros ajustados en {setting} y saben a zumo de fruta. Me encanta este molino.",
        "Lumen más la app: se acabó ir a ojo. Mi V60 sale igual todos los días.",
        "Sinceramente, la comunidad cafetera más amable en la que he estado. Gracias a todos.",
    ),
    praise_replies=(
        "¡Totalmente de acuerdo!",
        "¡Qué bien, disfrútalo!",
        "Mi experiencia es la misma.",
        "Bienvenido al club ☕",
    ),
    feature_requests=FEATURE_REQUESTS,
    plus_ones=("+1", "+1, me encantaría", "¡Sí, por favor!", "Otro voto para esto."),
    chatter=(
        "Buenos días ☕ ¿qué tenéis hoy en la taza?",
        "Hoy pruebo un Etiopía natural, huele a arándanos.",
        "¿Alguien ha probado café de Colombia con el {grinder}? Busco recomendaciones.",
        "Proyecto de fin de semana: cold brew a {ratio}. Ya os contaré.",
        "¿Qué agua usáis? La del grifo aquí es durísima.",
    ),
    chatter_replies=(
        "Un Kenia, ácido y jugoso.",
        "¡Qué bien! Cuéntanos qué tal sale.",
        "Yo uso jarra con filtro y añado un poco de agua mineral.",
        "Jaja, clásico.",
        "Un espresso normalito hoy, pero rico.",
        "¡Suena genial! ¿De qué tostador?",
    ),
    announcements=ANNOUNCEMENTS,
    announcement_replies=("¡Gracias por avisar!", "Buenas noticias.", "Gracias por la información."),
    email_greetings=("Hola,", "Buenos días,", "Estimado equipo de soporte:", "Buenas tardes,"),
    email_sign_offs=("Un saludo,\n{name}", "Gracias,\n{name}", "Saludos cordiales,\n{name}"),
    staff_greeting="Hola, {name}:",
    staff_sign_off="Un saludo,\n{staff}\nSoporte de Aurora",
    spam=(
        "¡Gana 500 € al día desde casa sin experiencia! Escríbeme o entra en http://dinero-facil.example",
        "Cafeteras con hasta un 80 % de descuento, solo hoy: http://ofertas-cafe.example",
    ),
    heated=(
        Script(
            "El precio del Vela 2 es un abuso",
            (
                "Sinceramente, el Vela 2 cuesta casi el doble que el Vela y las muelas son las mismas. Es un abuso.",
                "Las muelas no son las mismas, y el ajuste continuo no es gratis. Nadie te obliga a comprarlo.",
                "Claro, defiende a la marca, seguro que te lo regalaron.",
                "Lo pagué de mi bolsillo. Si no puedes permitírtelo, no es culpa de nadie.",
                "Qué aires te das. Vete a presumir a otro sitio.",
                "Eres un payaso y no tienes ni idea de lo que hablas.",
            ),
        ),
    ),
    moderator_notes=(
        "Vamos a mantener el respeto, por favor. Se critican las ideas, no a las personas.",
        "Cierro el hilo un rato para que se enfríen los ánimos. Repasad las normas de la comunidad.",
    ),
    insults=("Qué pregunta más tonta, léete el manual.", "¿De verdad eres tan torpe?"),
)
